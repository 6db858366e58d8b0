#include "proxy/http/rewrite.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/parser.h"
#include "proxy/http/responses.h"

namespace ferry::http {
namespace {

std::string rewriteRequest(const std::string& in, const std::string& client) {
  Parser p(MessageType::kRequest);
  p.feed(in.data(), in.size());
  EXPECT_TRUE(p.headComplete());
  char out[4096];
  HeadWriter w(out);
  EXPECT_TRUE(writeUpstreamRequest(p.head(), client, w));
  return std::string(w.view());
}

TEST(Rewrite, RequestDropsHopByHopAndAddsForwardedHeaders) {
  std::string out = rewriteRequest(
      "GET /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Private\r\nX-Private: s\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\nUpgrade: h2c\r\n"
      "X-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\n\r\n",
      "127.0.0.9");
  EXPECT_EQ(out,
            "GET /x HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n"
            "X-Forwarded-For: 1.2.3.4, 127.0.0.9\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST(Rewrite, RequestKeepsTransferEncodingAndExistingProto) {
  std::string out = rewriteRequest(
      "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-Proto: https\r\n"
      "Expect: 100-continue\r\n\r\n",
      "::1");
  EXPECT_EQ(out,
            "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-For: ::1\r\n\r\n");
}

TEST(Rewrite, ResponseAddsCloseWhenAsked) {
  std::string in =
      "HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nContent-Length: "
      "0\r\n\r\n";
  Parser p(MessageType::kResponse);
  p.feed(in.data(), in.size());
  char out[512];
  HeadWriter w(out);
  ASSERT_TRUE(writeDownstreamResponse(p.head(), true, w));
  EXPECT_EQ(w.view(), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(Rewrite, WriterRefusesWhatDoesNotFit) {
  char out[8];
  HeadWriter w(out);
  w.put("12345").put("6789");
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.view(), "12345");
}

TEST(Rewrite, CannedResponsesAreCompleteMessages) {
  for (int status : {400, 404, 408, 413, 431, 502, 503, 504}) {
    std::string_view r = cannedResponse(status, true);
    Parser p(MessageType::kResponse);
    Parser::Step st = p.feed(r.data(), r.size());
    ASSERT_EQ(st.status, Parser::Status::kHeadComplete) << r;
    EXPECT_EQ(p.head().status, status);
    EXPECT_FALSE(p.head().keepAlive);
    EXPECT_EQ(p.feed(r.data() + st.consumed, r.size() - st.consumed).status,
              Parser::Status::kMessageComplete);
  }
  EXPECT_EQ(cannedResponse(404, false).find("Connection: close"), std::string_view::npos);
}

TEST(Rewrite, HasTokenIsCaseInsensitiveAndTrims) {
  EXPECT_TRUE(hasToken("keep-alive,  Upgrade ", "upgrade"));
  EXPECT_FALSE(hasToken("keep-alive-ish", "keep-alive"));
  EXPECT_TRUE(isHopByHop("X-Custom", "close, x-custom"));
  EXPECT_FALSE(isHopByHop("Transfer-Encoding", ""));
}

// Issue 16, section 0: the backend gets the framing ferry parsed, whatever the client's lines
// said or Connection named.
TEST(Rewrite, FramingIsWrittenFromWhatWasParsed) {
  EXPECT_FALSE(isHopByHop("Content-Length", "content-length"));
  EXPECT_FALSE(isHopByHop("Transfer-Encoding", "transfer-encoding"));
  EXPECT_FALSE(isHopByHop("Host", "host"));
  std::string out = rewriteRequest(
      "POST /u HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\nAccept: */*\r\n\r\n", "1.2.3.4");
  EXPECT_EQ(out,
            "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nAccept: */*\r\n"
            "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\n\r\n");
  out = rewriteRequest("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", "::1");
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << out;

  // A head built by hand (the parser refuses these): Connection names the framing and Host.
  MessageHead h;
  h.method = "POST";
  h.target = "/";
  h.headers[0] = {"Host", "a"};
  h.headers[1] = {"Connection", "Content-Length, Host"};
  h.headers[2] = {"Content-Length", "37"};
  h.headerCount = 3;
  h.contentLength = 37;
  char buf[512];
  HeadWriter w(buf);
  ASSERT_TRUE(writeUpstreamRequest(h, "1.2.3.4", w));
  EXPECT_NE(w.view().find("\r\nHost: a\r\n"), std::string_view::npos) << w.view();
  EXPECT_NE(w.view().find("\r\nContent-Length: 37\r\n"), std::string_view::npos) << w.view();
}

TEST(Rewrite, Http10WithoutHostGetsTheFallbackHost) {
  Parser p(MessageType::kRequest);
  std::string in = "GET /x HTTP/1.0\r\n\r\n";
  p.feed(in.data(), in.size());
  ASSERT_TRUE(p.headComplete());
  UpstreamRequestOptions o;
  o.clientAddress = "10.0.0.1";
  o.fallbackHost = "127.0.0.1:8080";
  char buf[512];
  HeadWriter w(buf);
  ASSERT_TRUE(writeUpstreamRequest(p.head(), o, w));
  EXPECT_EQ(w.view().substr(0, 39), "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n") << w.view();
}

TEST(Rewrite, UntrustedForwardingHeadersNeverPass) {
  Parser p(MessageType::kRequest);
  std::string in =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: evil.example\r\n"
      "Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n";
  p.feed(in.data(), in.size());
  ASSERT_TRUE(p.headComplete());
  UpstreamRequestOptions o;  // the defaults: XFF and XFP append, XFH and Forwarded off
  o.clientAddress = "10.0.0.1";
  o.via = {};
  char buf[512];
  HeadWriter w(buf);
  ASSERT_TRUE(writeUpstreamRequest(p.head(), o, w));
  EXPECT_EQ(w.view(),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n"
            "X-Forwarded-Proto: http\r\n\r\n");
  o.clientTrusted = true;  // a trusted proxy's headers are kept
  HeadWriter t(buf);
  ASSERT_TRUE(writeUpstreamRequest(p.head(), o, t));
  EXPECT_NE(t.view().find("X-Forwarded-Host: evil.example"), std::string_view::npos);
  EXPECT_NE(t.view().find("Forwarded: for=6.6.6.6"), std::string_view::npos);
}

TEST(Rewrite, EveryRegisteredStatusHasItsReason) {
  EXPECT_EQ(reasonPhrase(418), "I'm a teapot");
  EXPECT_EQ(reasonPhrase(422), "Unprocessable Content");
  EXPECT_EQ(reasonPhrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reasonPhrase(511), "Network Authentication Required");
  EXPECT_EQ(reasonPhrase(308), "Permanent Redirect");
  char buf[256];
  HeadWriter w(buf);
  ASSERT_TRUE(writeCannedResponse(405, "Allow: GET, HEAD\r\n", ConnectionHeader::kClose, w));
  Parser p(MessageType::kResponse);
  Parser::Step st = p.feed(w.view().data(), w.view().size());
  ASSERT_EQ(st.status, Parser::Status::kHeadComplete) << w.view();
  EXPECT_EQ(p.head().find("allow").value_or(""), "GET, HEAD");
  EXPECT_EQ(p.feed(w.view().data() + st.consumed, w.view().size() - st.consumed).status,
            Parser::Status::kMessageComplete);
}

}  // namespace
}  // namespace ferry::http
