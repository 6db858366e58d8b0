#include "proxy/http/rewrite.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/parser.h"

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

}  // namespace
}  // namespace ferry::http
