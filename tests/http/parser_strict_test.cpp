// Parser limits and strictness: the exact bytes in, the status and reason out, for requests and
// responses alike.
#include <gtest/gtest.h>

#include <string>

#include "proxy/http/parser.h"

namespace ferry::http {
namespace {

using namespace std::string_literals;
using S = Parser::Status;

// Feeds all of text (head then body) at once or in steps; returns the first stop that is not
// kNeedMore/kHeadComplete-with-more-to-go, and the total consumed.
struct Run {
  S status;
  std::size_t consumed;
};
Run feedWhole(Parser& p, const std::string& text, std::size_t step = 1 << 30) {
  std::size_t off = 0;
  while (true) {
    std::size_t n = std::min(step, text.size() - off);
    Parser::Step st = p.feed(text.data() + off, n);
    off += st.consumed;
    if (st.status == S::kError || st.status == S::kMessageComplete) return {st.status, off};
    if (off == text.size() && st.status == S::kNeedMore) return {st.status, off};
    if (off == text.size() && st.status == S::kHeadComplete) {
      Parser::Step again = p.feed(text.data() + off, 0);
      return {again.status, off};
    }
  }
}

struct Case {
  const char* name;
  std::string text;
  S status;         // how feeding it all ends
  int errorStatus;  // when kError
  const char* why;  // substring of error(), when kError
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class Requests : public ::testing::TestWithParam<Case> {};
class Responses : public ::testing::TestWithParam<Case> {};

void check(MessageType type, const Case& c, std::size_t step) {
  Parser p(type, Parser::Limits{4, 16, 128});
  Run r = feedWhole(p, c.text, step);
  EXPECT_EQ(r.status, c.status) << c.name << " step " << step << ": " << p.error();
  if (c.status == S::kError) {
    EXPECT_EQ(p.errorStatus(), c.errorStatus) << c.name;
    EXPECT_NE(p.error().find(c.why), std::string_view::npos)
        << c.name << ": got \"" << p.error() << "\"";
  }
}

TEST_P(Requests, EndAsExpected) {
  check(MessageType::kRequest, GetParam(), 1 << 30);
  check(MessageType::kRequest, GetParam(), 1);
}
TEST_P(Responses, EndAsExpected) {
  check(MessageType::kResponse, GetParam(), 1 << 30);
  check(MessageType::kResponse, GetParam(), 1);
}

// Limits in these tables: 4 headers, 16 bytes of target, 128 bytes of head.
INSTANTIATE_TEST_SUITE_P(
    Table, Requests,
    ::testing::Values(
        Case{"target_at_limit", "GET /234567890123456 HTTP/1.1\r\nHost: h\r\n\r\n",
             S::kMessageComplete, 0, ""},
        Case{"target_over_limit", "GET /2345678901234567 HTTP/1.1\r\nHost: h\r\n\r\n", S::kError,
             414, "request target too long"},
        Case{"headers_at_limit", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
             S::kMessageComplete, 0, ""},
        Case{"headers_over_limit",
             "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", S::kError, 431,
             "too many header fields"},
        Case{"head_at_limit",
             "GET / HTTP/1.1\r\nHost: h\r\nA: " + std::string(128 - 32, 'a') + "\r\n\r\n",
             S::kMessageComplete, 0, ""},
        Case{"head_over_limit",
             "GET / HTTP/1.1\r\nHost: h\r\nA: " + std::string(128 - 31, 'a') + "\r\n\r\n",
             S::kError, 431, "message head too large"},
        Case{"bare_lf_line_ends", "GET / HTTP/1.1\nHost: h\n\n", S::kError, 400, ""},
        Case{"bare_lf_after_header", "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n", S::kError, 400, ""},
        Case{"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", S::kError, 400,
             ""},
        Case{"nul_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s, S::kError, 400, ""},
        Case{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", S::kError, 400, "fold"},
        Case{"te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             S::kError, 400, "Transfer-Encoding in an HTTP/1.0 message"},
        Case{"chunk_size_bare_lf",
             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n",
             S::kError, 400, ""},
        Case{"chunk_data_without_crlf",
             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX", S::kError,
             400, ""},
        Case{"chunk_size_overflow",
             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "fffffffffffffffff\r\n",
             S::kError, 400, ""},
        Case{"host_with_slash", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", S::kError, 400,
             "invalid Host header"},
        Case{"host_bad_port", "GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n", S::kError, 400,
             "invalid Host header"},
        Case{"host_ipv6_ok", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", S::kMessageComplete, 0,
             ""},
        Case{"host_empty_ok", "GET / HTTP/1.1\r\nHost:\r\n\r\n", S::kMessageComplete, 0, ""},
        Case{"http10_keepalive_ok", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
             S::kMessageComplete, 0, ""}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Table, Responses,
    ::testing::Values(
        Case{"ok_with_length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
             S::kMessageComplete, 0, ""},
        Case{"ok_chunked",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
             S::kMessageComplete, 0, ""},
        Case{"status_without_reason", "HTTP/1.1 204\r\n\r\n", S::kMessageComplete, 0, ""},
        Case{"cl_and_te",
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
             S::kError, 502, ""},
        Case{"te_and_cl",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
             S::kError, 502, ""},
        Case{"two_different_cl",
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", S::kError, 502,
             ""},
        Case{"same_cl_twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
             S::kError, 502, "Content-Length"},
        Case{"bad_chunk_size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             S::kError, 502, ""},
        Case{"chunk_size_bare_lf",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n", S::kError,
             502, ""},
        Case{"chunk_without_crlf",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
             S::kError, 502, ""},
        Case{"bare_lf_line_ends", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", S::kError, 502, ""},
        Case{"bare_lf_after_header", "HTTP/1.1 200 OK\r\nX: 1\nContent-Length: 0\r\n\r\n",
             S::kError, 502, ""},
        Case{"bare_cr_in_value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
             S::kError, 502, ""},
        Case{"bare_cr_in_reason", "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", S::kError, 502,
             ""},
        Case{"nul_in_value", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"s, S::kError,
             502, ""},
        Case{"obs_fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", S::kError,
             502, "fold"},
        Case{"space_before_colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", S::kError, 502,
             ""},
        Case{"two_digit_status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", S::kError, 502,
             "invalid status code"},
        Case{"leading_zero_status", "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", S::kError, 502,
             "invalid status code"},
        Case{"four_digit_status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", S::kError, 502,
             ""},
        Case{"letters_status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", S::kError, 502, ""},
        Case{"missing_status", "HTTP/1.1\r\nContent-Length: 0\r\n\r\n", S::kError, 502, ""},
        Case{"empty_status", "HTTP/1.1 \r\nContent-Length: 0\r\n\r\n", S::kError, 502, ""},
        Case{"not_http", "HELLO\r\n\r\n", S::kError, 502, ""},
        Case{"bad_version", "HTTP/1.7 200 OK\r\nContent-Length: 0\r\n\r\n", S::kError, 502, ""},
        Case{"te_in_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             S::kError, 502, "Transfer-Encoding in an HTTP/1.0 message"},
        Case{"head_over_limit",
             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nA: " + std::string(100, 'a') + "\r\n\r\n",
             S::kError, 502, "message head too large"},
        Case{"headers_over_limit",
             "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", S::kError, 502,
             "too many header fields"}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(ParserLimits, DefaultsAndCeiling) {
  Parser p(MessageType::kRequest);
  EXPECT_EQ(p.limits().maxHeaders, 100U);
  EXPECT_EQ(p.limits().maxTargetBytes, 8192U);
  p.setLimits({100000, 8192, 65536});
  EXPECT_EQ(p.limits().maxHeaders, kMaxHeaders);
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 1; i < kMaxHeaders; ++i) req += "X: v\r\n";
  req += "\r\n";
  EXPECT_EQ(feedWhole(p, req).status, S::kMessageComplete) << p.error();
  p.reset();
  EXPECT_EQ(p.limits().maxHeaders, kMaxHeaders);  // reset keeps the limits
  std::string more = req.substr(0, req.size() - 2) + "X: v\r\n\r\n";
  EXPECT_EQ(feedWhole(p, more).status, S::kError);
  EXPECT_EQ(p.errorStatus(), 431);
}

TEST(ParserLimits, TooLongHeadIsRefusedWithoutReadingItAll) {
  Parser p(MessageType::kRequest, Parser::Limits{100, 8192, 64});
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(100000, 'a');
  Parser::Step st = p.feed(big.data(), big.size());
  EXPECT_EQ(st.status, S::kError);
  EXPECT_EQ(p.errorStatus(), 431);
}

// HTTP/1.0 persistence is opt-in; HTTP/1.1 persistence is opt-out.
TEST(ParserKeepAlive, FollowsTheVersionRules) {
  struct KA {
    MessageType type;
    const char* text;
    bool http10;
    bool keepAlive;
  };
  for (const KA& k : {
           KA{MessageType::kRequest, "GET / HTTP/1.0\r\n\r\n", true, false},
           KA{MessageType::kRequest, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true,
              true},
           KA{MessageType::kRequest, "GET / HTTP/1.0\r\nConnection: Keep-Alive, x\r\n\r\n", true,
              true},
           KA{MessageType::kRequest, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", false, true},
           KA{MessageType::kRequest, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
              false, false},
           KA{MessageType::kResponse, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true, false},
           KA{MessageType::kResponse,
              "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true, true},
           KA{MessageType::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true},
       }) {
    Parser p(k.type);
    std::string text = k.text;
    Parser::Step st = p.feed(text.data(), text.size());
    ASSERT_EQ(st.status, S::kHeadComplete) << k.text << p.error();
    EXPECT_EQ(p.head().isHttp10(), k.http10) << k.text;
    EXPECT_EQ(p.head().keepAlive, k.keepAlive) << k.text;
  }
}

}  // namespace
}  // namespace ferry::http
