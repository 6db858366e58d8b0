#include "proxy/http/responses.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/parser.h"
#include "proxy/http/rewrite.h"

namespace ferry::http {
namespace {

using C = ConnectionHeader;

TEST(Canned, ExactBytes) {
  EXPECT_EQ(cannedResponse(404, C::kNone),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
            "404 Not Found\n");
  EXPECT_EQ(cannedResponse(414, C::kClose),
            "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n"
            "Connection: close\r\n\r\n414 URI Too Long\n");
  EXPECT_EQ(cannedResponse(503, C::kKeepAlive),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
            "Connection: keep-alive\r\n\r\n503 Service Unavailable\n");
  EXPECT_EQ(cannedResponse(404, true), cannedResponse(404, C::kClose));
  EXPECT_EQ(cannedResponse(404, false), cannedResponse(404, C::kNone));
  EXPECT_EQ(cannedResponse(299, C::kNone), cannedResponse(500, C::kNone));
  // Static storage: the same bytes every call.
  EXPECT_EQ(cannedResponse(400, C::kNone).data(), cannedResponse(400, C::kNone).data());
}

TEST(Canned, EveryStatusIsACompleteMessageWithItsBody) {
  for (int status : {400, 403, 404, 405, 408, 413, 414, 431, 500, 501, 502, 503, 504}) {
    for (C c : {C::kNone, C::kClose, C::kKeepAlive}) {
      std::string_view r = cannedResponse(status, c);
      Parser p(MessageType::kResponse);
      Parser::Step st = p.feed(r.data(), r.size());
      ASSERT_EQ(st.status, Parser::Status::kHeadComplete) << r;
      EXPECT_EQ(p.head().status, status);
      EXPECT_EQ(p.head().reason, reasonPhrase(status));
      EXPECT_EQ(p.head().keepAlive, c != C::kClose);
      std::string body = std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\n";
      EXPECT_EQ(r.substr(st.consumed), body);
      EXPECT_EQ(p.feed(r.data() + st.consumed, r.size() - st.consumed).status,
                Parser::Status::kMessageComplete);
    }
  }
}

TEST(ErrorPage, HeadForAFileBody) {
  char buf[256];
  HeadWriter w(buf);
  ASSERT_TRUE(writeErrorPageHead(503, 1234, C::kClose, w));
  EXPECT_EQ(w.view(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n"
            "Content-Length: 1234\r\nConnection: close\r\n\r\n");
  HeadWriter w2(buf);
  ASSERT_TRUE(writeErrorPageHead(404, 0, C::kKeepAlive, w2));
  EXPECT_EQ(w2.view(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 0\r\n"
            "Connection: keep-alive\r\n\r\n");
  HeadWriter w3(buf);
  EXPECT_FALSE(writeErrorPageHead(42, 0, C::kNone, w3));
  char tiny[10];
  HeadWriter w4(tiny);
  EXPECT_FALSE(writeErrorPageHead(404, 0, C::kNone, w4));
}

MessageHead parseReq(const std::string& s) {
  static std::string keep;  // the head's views point into it
  keep = s;
  Parser p(MessageType::kRequest);
  p.feed(keep.data(), keep.size());
  EXPECT_TRUE(p.headComplete()) << p.error();
  return p.head();
}

TEST(MaxForwards, ZeroOnOptionsOrTraceMeansAnswerHere) {
  EXPECT_TRUE(
      answersMaxForwards(parseReq("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n")));
  EXPECT_TRUE(
      answersMaxForwards(parseReq("TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n")));
  EXPECT_FALSE(
      answersMaxForwards(parseReq("TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\n\r\n")));
  EXPECT_FALSE(
      answersMaxForwards(parseReq("GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n")));
  EXPECT_FALSE(answersMaxForwards(parseReq("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")));
  EXPECT_FALSE(
      answersMaxForwards(parseReq("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: -1\r\n\r\n")));
  EXPECT_EQ(
      forwardedMaxForwards(parseReq("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 10\r\n\r\n")),
      9U);
  EXPECT_FALSE(
      forwardedMaxForwards(parseReq("GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 10\r\n\r\n")));
}

TEST(MaxForwards, OptionsAnswer) {
  char buf[256];
  HeadWriter w(buf);
  ASSERT_TRUE(writeOptionsAnswer("GET, HEAD, POST, OPTIONS", C::kNone, w));
  EXPECT_EQ(w.view(),
            "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, OPTIONS\r\nContent-Length: 0\r\n\r\n");
}

TEST(MaxForwards, TraceEchoesTheHeadWithoutSecrets) {
  MessageHead req = parseReq(
      "TRACE /t?x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nAuthorization: Basic eA==\r\n"
      "Cookie: s=1\r\nX-A: b\r\n\r\n");
  char buf[512];
  HeadWriter w(buf);
  ASSERT_TRUE(writeTraceAnswer(req, C::kClose, w));
  std::string body = "TRACE /t?x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nX-A: b\r\n\r\n";
  EXPECT_EQ(w.view(), "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  char small[80];
  HeadWriter ws(small);
  EXPECT_FALSE(writeTraceAnswer(req, C::kClose, ws));
}

}  // namespace
}  // namespace ferry::http
