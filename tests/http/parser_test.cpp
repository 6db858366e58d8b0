#include "proxy/http/parser.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::http {
namespace {

using namespace std::string_literals;

using S = Parser::Status;

// Feeds text in pieces of `step` bytes from one stable string, as a session feeds its buffer.
struct Fed {
  S status;
  std::size_t consumed;  // total bytes consumed up to the stop
};
Fed feedAll(Parser& p, const std::string& text, std::size_t step = 1 << 30) {
  std::size_t off = 0;
  while (off < text.size()) {
    std::size_t n = std::min(step, text.size() - off);
    Parser::Step st = p.feed(text.data() + off, n);
    off += st.consumed;
    if (st.status != S::kNeedMore) return {st.status, off};
  }
  return {S::kNeedMore, off};
}

TEST(Parser, SimpleGetHeadThenCompleteWithoutBody) {
  Parser p(MessageType::kRequest);
  std::string req = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Y:  z \r\n\r\n";
  Fed f = feedAll(p, req);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_EQ(f.consumed, req.size());
  const MessageHead& h = p.head();
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.headerCount, 2U);
  EXPECT_EQ(h.find("HOST").value(), "example.com");
  EXPECT_EQ(h.find("x-y").value(), "z ");
  EXPECT_EQ(h.headBytes, req.size());
  EXPECT_TRUE(h.keepAlive);
  EXPECT_FALSE(h.expectsBody);
  EXPECT_EQ(p.feed(req.data() + req.size(), 0).status, S::kMessageComplete);
}

TEST(Parser, HeadSplitIntoSingleBytesGivesTheSameViews) {
  Parser p(MessageType::kRequest);
  std::string req = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  Fed f = feedAll(p, req, 1);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_EQ(p.head().headBytes, req.size() - 5);
  EXPECT_EQ(p.head().find("content-length").value(), "5");
  EXPECT_EQ(p.head().contentLength.value(), 5U);
  Parser::Step st = p.feed(req.data() + f.consumed, 5);
  EXPECT_EQ(st.status, S::kMessageComplete);
  EXPECT_EQ(st.consumed, 5U);
}

TEST(Parser, PipelinedRequestsStopAtEachMessageEnd) {
  Parser p(MessageType::kRequest);
  std::string two =
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: "
      "h\r\n\r\n";
  Fed f = feedAll(p, two);
  ASSERT_EQ(f.status, S::kHeadComplete);
  Parser::Step body = p.feed(two.data() + f.consumed, two.size() - f.consumed);
  EXPECT_EQ(body.status, S::kMessageComplete);
  EXPECT_EQ(body.consumed, 3U);
  p.reset();
  std::string rest = two.substr(f.consumed + 3);
  Fed g = feedAll(p, rest);
  EXPECT_EQ(g.status, S::kHeadComplete);
  EXPECT_EQ(p.head().target, "/2");
}

TEST(Parser, ChunkedBodyIsValidatedAndConsumedToItsEnd) {
  Parser p(MessageType::kRequest);
  std::string req =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  Fed f = feedAll(p, req);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_TRUE(p.head().chunked);
  EXPECT_TRUE(p.head().expectsBody);
  std::size_t off = f.consumed;
  Parser::Step st{};
  while (off < req.size()) {  // byte by byte through the chunk framing
    st = p.feed(req.data() + off, 1);
    off += st.consumed;
    if (st.status == S::kMessageComplete) break;
  }
  EXPECT_EQ(st.status, S::kMessageComplete);
  EXPECT_EQ(req.substr(off), "NEXT");
}

TEST(Parser, RejectsBadChunkSize) {
  Parser p(MessageType::kRequest);
  std::string req = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  Fed f = feedAll(p, req);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_EQ(p.feed(req.data() + f.consumed, req.size() - f.consumed).status, S::kError);
}

struct BadCase {
  const char* name;
  std::string text;
  int status;
};

class Malformed : public ::testing::TestWithParam<BadCase> {};

TEST_P(Malformed, IsRejectedWithItsStatus) {
  Parser p(MessageType::kRequest);
  Fed f = feedAll(p, GetParam().text);
  EXPECT_EQ(f.status, S::kError) << GetParam().name;
  EXPECT_FALSE(p.error().empty());
  EXPECT_EQ(p.errorStatus(), GetParam().status);
}

std::string manyHeaders(int n) {
  std::string s = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    Requests, Malformed,
    ::testing::Values(
        BadCase{
            "cl_and_te",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            400},
        BadCase{"two_cl",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
                400},
        BadCase{"same_cl_twice",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
                400},
        BadCase{"no_host", "GET / HTTP/1.1\r\n\r\n", 400},
        BadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadCase{"space_in_name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
        BadCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        BadCase{"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400},
        BadCase{"bad_method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"bad_version", "GET / HTTP/2.7\r\nHost: a\r\n\r\n", 400},
        BadCase{"bare_lf_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
        BadCase{"nul_in_target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"s, 400},
        BadCase{"negative_cl", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        BadCase{"te_not_chunked_last",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        BadCase{"too_many_headers", manyHeaders(120), 431}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(Parser, Http10WithoutKeepAliveClosesAndNeedsNoHost) {
  Parser p(MessageType::kRequest);
  Fed f = feedAll(p, "GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_FALSE(p.head().keepAlive);
  EXPECT_EQ(p.head().versionMinor, 0);
}

TEST(Parser, ResponseWithoutLengthEndsAtClose) {
  Parser p(MessageType::kResponse);
  std::string r = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body";
  Fed f = feedAll(p, r);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_EQ(p.head().status, 200);
  EXPECT_EQ(p.head().reason, "OK");
  EXPECT_TRUE(p.head().expectsBody);
  EXPECT_EQ(p.feed(r.data() + f.consumed, r.size() - f.consumed).status, S::kNeedMore);
  EXPECT_TRUE(p.bodyUntilClose());
  EXPECT_EQ(p.finish().status, S::kMessageComplete);
}

TEST(Parser, TruncatedResponseIsAnErrorAtClose) {
  Parser p(MessageType::kResponse);
  std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  Fed f = feedAll(p, r);
  ASSERT_EQ(f.status, S::kHeadComplete);
  p.feed(r.data() + f.consumed, r.size() - f.consumed);
  EXPECT_EQ(p.finish().status, S::kError);
}

TEST(Parser, ResponsesToHeadAndNoContentHaveNoBody) {
  for (std::string r : {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                        "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n"}) {
    Parser p(MessageType::kResponse);
    p.setNoBody(r.find("200") != std::string::npos);
    Fed f = feedAll(p, r);
    ASSERT_EQ(f.status, S::kHeadComplete) << r;
    EXPECT_FALSE(p.head().expectsBody);
    EXPECT_EQ(p.feed(r.data() + r.size(), 0).status, S::kMessageComplete) << r;
  }
}

TEST(Parser, InterimResponseThenFinal) {
  Parser p(MessageType::kResponse);
  std::string r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  Fed f = feedAll(p, r);
  ASSERT_EQ(f.status, S::kHeadComplete);
  EXPECT_EQ(p.head().status, 100);
  EXPECT_EQ(p.feed(r.data() + f.consumed, 0).status, S::kMessageComplete);
  p.reset();
  std::string rest = r.substr(f.consumed);
  Fed g = feedAll(p, rest);
  ASSERT_EQ(g.status, S::kHeadComplete);
  EXPECT_EQ(p.head().status, 200);
}

}  // namespace
}  // namespace ferry::http
