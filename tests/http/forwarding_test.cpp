// The upstream request writer with options and the downstream response writer: exact bytes in
// and out for each rule of RFC 9110/9112 an intermediary keeps, and for the header rules.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/http/parser.h"
#include "proxy/http/rewrite.h"
#include "proxy/http/target.h"

namespace ferry::http {
namespace {

using M = ForwardMode;
using Op = HeaderRule::Op;

struct Up {
  const char* name;
  std::string in;
  UpstreamRequestOptions options;
  std::string out;
};
void PrintTo(const Up& c, std::ostream* os) {
  *os << c.name;
}

UpstreamRequestOptions opts(std::string_view client, bool trusted, M xff, M xfp, M xfh, M fwd,
                            std::string_view via = "", std::string_view requestId = "") {
  UpstreamRequestOptions o;
  o.clientAddress = client;
  o.clientTrusted = trusted;
  o.xForwardedFor = xff;
  o.xForwardedProto = xfp;
  o.xForwardedHost = xfh;
  o.forwarded = fwd;
  o.via = via;
  o.requestId = requestId;
  return o;
}

std::string writeUp(const std::string& in, UpstreamRequestOptions o, bool parseTarget = true) {
  Parser p(MessageType::kRequest);
  Parser::Step st = p.feed(in.data(), in.size());
  EXPECT_EQ(st.status, Parser::Status::kHeadComplete) << p.error();
  TargetParse t = parseRequestTarget(p.head().method, p.head().target);
  EXPECT_TRUE(t.ok) << t.error;
  if (parseTarget) o.target = &t.target;
  char out[4096];
  HeadWriter w(out);
  EXPECT_TRUE(writeUpstreamRequest(p.head(), o, w));
  return std::string(w.view());
}

class Upstream : public ::testing::TestWithParam<Up> {};
TEST_P(Upstream, ExactBytes) {
  EXPECT_EQ(writeUp(GetParam().in, GetParam().options), GetParam().out);
}

const char* kReq =
    "GET /p HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: 6.6.6.6\r\n"
    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
    "Forwarded: for=6.6.6.6\r\nAccept: */*\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, Upstream,
    ::testing::Values(
        Up{"untrusted_append_replaces_every_forwarding_header", kReq,
           opts("192.0.2.1", false, M::kAppend, M::kAppend, M::kAppend, M::kAppend),
           "GET /p HTTP/1.1\r\nHost: h.example\r\nAccept: */*\r\n"
           "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
           "X-Forwarded-Host: h.example\r\n"
           "Forwarded: for=192.0.2.1;proto=http;host=h.example\r\n\r\n"},
        Up{"trusted_append_keeps_and_appends", kReq,
           opts("192.0.2.1", true, M::kAppend, M::kAppend, M::kAppend, M::kAppend),
           "GET /p HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-Proto: https\r\n"
           "X-Forwarded-Host: evil\r\nAccept: */*\r\n"
           "X-Forwarded-For: 6.6.6.6, 192.0.2.1\r\n"
           "Forwarded: for=6.6.6.6, for=192.0.2.1;proto=http;host=h.example\r\n\r\n"},
        Up{"trusted_replace_replaces", kReq,
           opts("192.0.2.1", true, M::kReplace, M::kReplace, M::kReplace, M::kReplace),
           "GET /p HTTP/1.1\r\nHost: h.example\r\nAccept: */*\r\n"
           "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
           "X-Forwarded-Host: h.example\r\n"
           "Forwarded: for=192.0.2.1;proto=http;host=h.example\r\n\r\n"},
        Up{"off_drops_an_untrusted_clients_copies", kReq,
           opts("192.0.2.1", false, M::kOff, M::kOff, M::kOff, M::kOff),
           "GET /p HTTP/1.1\r\nHost: h.example\r\nAccept: */*\r\n\r\n"},
        Up{"off_passes_a_trusted_clients_copies_untouched", kReq,
           opts("192.0.2.1", true, M::kOff, M::kOff, M::kOff, M::kOff), std::string(kReq)},
        Up{"forwarded_quotes_ipv6_and_host_with_port", "GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n",
           opts("2001:db8::7", false, M::kOff, M::kOff, M::kOff, M::kAppend),
           "GET / HTTP/1.1\r\nHost: h:8080\r\n"
           "Forwarded: for=\"[2001:db8::7]\";proto=http;host=\"h:8080\"\r\n\r\n"},
        Up{"xff_merges_several_trusted_lines",
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, "
           "3.3.3.3\r\n\r\n",
           opts("::1", true, M::kAppend, M::kOff, M::kOff, M::kOff),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, ::1\r\n\r\n"},
        Up{"via_11", "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 lb\r\n\r\n",
           opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff, "ferry"),
           "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 lb\r\nVia: 1.1 ferry\r\n\r\n"},
        Up{"via_10_for_an_http10_request", "GET / HTTP/1.0\r\n\r\n",
           opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff, "edge-1"),
           "GET / HTTP/1.1\r\nVia: 1.0 edge-1\r\n\r\n"},
        Up{"request_id_set_for_untrusted_replacing_theirs",
           "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: forged\r\n\r\n",
           opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff, "", "abc123"),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc123\r\n\r\n"},
        Up{"request_id_kept_for_trusted",
           "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: theirs\r\n\r\n",
           opts("1.2.3.4", true, M::kOff, M::kOff, M::kOff, M::kOff, "", "abc123"),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: theirs\r\n\r\n"},
        Up{"request_id_generated_for_trusted_without_one", "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
           opts("1.2.3.4", true, M::kOff, M::kOff, M::kOff, M::kOff, "", "abc123"),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc123\r\n\r\n"},
        Up{"hop_by_hop_and_expect_dropped",
           "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Priv\r\nX-Priv: 1\r\n"
           "Keep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: X\r\n"
           "Upgrade: websocket\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
           opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff),
           "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(UpstreamWriter, AbsoluteFormBecomesOriginFormAndItsAuthorityReplacesHost) {
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kOff, M::kOff, M::kAppend, M::kOff);
  EXPECT_EQ(writeUp("GET http://a.example:81/x?y HTTP/1.1\r\nHost: other\r\n\r\n", o),
            "GET /x?y HTTP/1.1\r\nHost: a.example:81\r\nX-Forwarded-Host: a.example:81\r\n\r\n");
  // An HTTP/1.0 absolute-form request without Host gets one.
  EXPECT_EQ(writeUp("GET http://a.example HTTP/1.0\r\n\r\n", o),
            "GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: a.example\r\n\r\n");
}

TEST(UpstreamWriter, HostRewriteWinsOverTheClientsAndTheAbsoluteForm) {
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kOff, M::kOff, M::kAppend, M::kOff);
  o.host = "backend.internal";
  EXPECT_EQ(writeUp("GET /x HTTP/1.1\r\nAccept: 1\r\nHost: public\r\n\r\n", o),
            "GET /x HTTP/1.1\r\nAccept: 1\r\nHost: backend.internal\r\n"
            "X-Forwarded-Host: public\r\n\r\n");
  EXPECT_EQ(writeUp("GET http://public/x HTTP/1.1\r\nHost: y\r\n\r\n", o),
            "GET /x HTTP/1.1\r\nHost: backend.internal\r\nX-Forwarded-Host: public\r\n\r\n");
}

TEST(UpstreamWriter, MaxForwardsDecrementedOnOptionsAndTraceOnly) {
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff);
  EXPECT_EQ(writeUp("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\n\r\n", o),
            "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 4\r\n\r\n");
  EXPECT_EQ(writeUp("TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\n\r\n", o),
            "TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n");
  EXPECT_EQ(writeUp("GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\n\r\n", o),
            "GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\n\r\n");
  EXPECT_EQ(writeUp("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: x\r\n\r\n", o),
            "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: x\r\n\r\n");
}

TEST(UpstreamWriter, TunnelKeepsUpgradeAndSaysConnectionUpgrade) {
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kOff, M::kOff, M::kOff, M::kOff);
  o.tunnel = true;
  EXPECT_EQ(writeUp("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, keep-alive\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Key: k==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n",
                    o),
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k==\r\n"
            "Sec-WebSocket-Version: 13\r\nConnection: upgrade\r\n\r\n");
}

TEST(UpstreamWriter, HeaderRulesAddSetRemoveCaseInsensitively) {
  std::vector<HeaderRule> rules = {{Op::kRemove, "x-secret", ""},
                                   {Op::kSet, "X-Env", "prod"},
                                   {Op::kAdd, "X-Tag", "a"},
                                   {Op::kAdd, "x-tag", "b"},
                                   {Op::kRemove, "VIA", ""}};
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kAppend, M::kOff, M::kOff, M::kOff, "ferry");
  o.rules = rules;
  EXPECT_EQ(writeUp("GET / HTTP/1.1\r\nHost: h\r\nX-Secret: s\r\nx-env: dev\r\nX-ENV: qa\r\n"
                    "X-Tag: 0\r\nVia: 1.1 lb\r\n\r\n",
                    o),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Tag: 0\r\nX-Forwarded-For: 1.2.3.4\r\n"
            "X-Env: prod\r\nX-Tag: a\r\nx-tag: b\r\n\r\n");
}

TEST(UpstreamWriter, RefusesWhatDoesNotFit) {
  Parser p(MessageType::kRequest);
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  p.feed(in.data(), in.size());
  UpstreamRequestOptions o = opts("1.2.3.4", false, M::kAppend, M::kAppend, M::kOff, M::kOff);
  char full[512];
  HeadWriter fw(full);
  ASSERT_TRUE(writeUpstreamRequest(p.head(), o, fw));
  for (std::size_t cap = 0; cap <= fw.size() + 1; ++cap) {
    std::vector<char> buf(cap);
    HeadWriter w(buf);
    EXPECT_EQ(writeUpstreamRequest(p.head(), o, w), cap >= fw.size()) << cap;
    EXPECT_LE(w.size(), cap);
  }
}

TEST(UpstreamWriter, OldFormKeepsItsMeaning) {
  Parser p(MessageType::kRequest);
  std::string in =
      "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n";
  p.feed(in.data(), in.size());
  char out[512];
  HeadWriter w(out);
  ASSERT_TRUE(writeUpstreamRequest(p.head(), "127.0.0.9", w));
  EXPECT_EQ(w.view(),
            "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n"
            "X-Forwarded-For: 1.2.3.4, 127.0.0.9\r\n\r\n");
}

TEST(HeaderRules, ConfigValidation) {
  std::string_view why;
  EXPECT_TRUE(headerRuleAllowed("X-Env", "prod", &why));
  EXPECT_FALSE(headerRuleAllowed("Content-Length", "1", &why));
  EXPECT_NE(why.find("frame the body"), std::string_view::npos);
  EXPECT_FALSE(headerRuleAllowed("transfer-encoding", "chunked", &why));
  EXPECT_FALSE(headerRuleAllowed("Connection", "close", &why));
  EXPECT_FALSE(headerRuleAllowed("Upgrade", "x", &why));
  EXPECT_FALSE(headerRuleAllowed("Host", "x", &why));
  EXPECT_EQ(why, "Host is changed with host_rewrite");
  EXPECT_FALSE(headerRuleAllowed("Bad Name", "x", &why));
  EXPECT_FALSE(headerRuleAllowed("", "x", &why));
  EXPECT_FALSE(headerRuleAllowed("X-A", "a\r\nInjected: 1", &why));
  EXPECT_FALSE(headerRuleAllowed("X-A", std::string_view("a\0b", 3), &why));
}

TEST(RequestId, EffectiveIdFollowsTrust) {
  Parser p(MessageType::kRequest);
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: theirs\r\n\r\n";
  p.feed(in.data(), in.size());
  EXPECT_EQ(effectiveRequestId(p.head(), true, "ours"), "theirs");
  EXPECT_EQ(effectiveRequestId(p.head(), false, "ours"), "ours");
}

// ---- responses ----

struct Down {
  const char* name;
  std::string in;
  bool noBody;  // the request was HEAD
  DownstreamResponseOptions options;
  std::string out;
  ResponsePlan plan;
};
void PrintTo(const Down& c, std::ostream* os) {
  *os << c.name;
}

DownstreamResponseOptions dopts(bool http10, bool keepAlive, bool closeAfter,
                                std::string_view via = "") {
  DownstreamResponseOptions o;
  o.clientHttp10 = http10;
  o.clientKeepAlive = keepAlive;
  o.closeAfter = closeAfter;
  o.via = via;
  return o;
}
ResponsePlan plan(bool skip, bool close, bool dechunk, bool tunnel) {
  ResponsePlan p;
  p.ok = true;
  p.skip = skip;
  p.closeAfter = close;
  p.dechunk = dechunk;
  p.tunnel = tunnel;
  return p;
}

class Downstream : public ::testing::TestWithParam<Down> {};
TEST_P(Downstream, ExactBytesAndPlan) {
  const Down& c = GetParam();
  Parser p(MessageType::kResponse);
  p.setNoBody(c.noBody);
  Parser::Step st = p.feed(c.in.data(), c.in.size());
  ASSERT_EQ(st.status, Parser::Status::kHeadComplete) << p.error();
  char out[2048];
  HeadWriter w(out);
  ResponsePlan got = writeDownstreamResponse(p.head(), c.options, w);
  EXPECT_EQ(w.view(), c.out);
  EXPECT_EQ(got.ok, c.plan.ok);
  EXPECT_EQ(got.skip, c.plan.skip);
  EXPECT_EQ(got.closeAfter, c.plan.closeAfter);
  EXPECT_EQ(got.dechunk, c.plan.dechunk);
  EXPECT_EQ(got.tunnel, c.plan.tunnel);
}

const char* kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
const char* kLength = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\n";
const char* kUntilClose = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, Downstream,
    ::testing::Values(
        Down{"h11_length", kLength, false, dopts(false, true, false, "ferry"),
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 ferry\r\n\r\n",
             plan(false, false, false, false)},
        Down{"h11_chunked_passes", kChunked, false, dopts(false, true, false),
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
             plan(false, false, false, false)},
        Down{"h11_close_after", kLength, false, dopts(false, true, true),
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
             plan(false, true, false, false)},
        Down{"h11_client_said_close", kLength, false, dopts(false, false, false),
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
             plan(false, true, false, false)},
        Down{"h11_body_until_close", kUntilClose, false, dopts(false, true, false, "ferry"),
             "HTTP/1.1 200 OK\r\nServer: old\r\nVia: 1.0 ferry\r\nConnection: close\r\n\r\n",
             plan(false, true, false, false)},
        Down{"h10_keepalive_with_length", kLength, false, dopts(true, true, false),
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
             plan(false, false, false, false)},
        Down{"h10_no_keepalive_asked", kLength, false, dopts(true, false, false),
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
             plan(false, true, false, false)},
        Down{"h10_chunked_is_dechunked_and_closed", kChunked, false, dopts(true, true, false),
             "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", plan(false, true, true, false)},
        Down{"h10_head_of_chunked_stays_open", kChunked, true, dopts(true, true, false),
             "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", plan(false, false, false, false)},
        Down{"h10_204_stays_open", "HTTP/1.1 204 No Content\r\n\r\n", false,
             dopts(true, true, false), "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n",
             plan(false, false, false, false)},
        Down{"h10_interim_skipped", "HTTP/1.1 100 Continue\r\n\r\n", false,
             dopts(true, true, false), "", plan(true, false, false, false)},
        Down{"h11_interim_no_connection", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
             false, dopts(false, true, true), "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
             plan(false, false, false, false)},
        Down{"switching_protocols_tunnel",
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: abc=\r\n\r\n",
             false, dopts(false, true, false, "ferry"),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Accept: abc=\r\nVia: 1.1 ferry\r\nConnection: upgrade\r\n\r\n",
             plan(false, false, false, true)}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(DownstreamWriter, ResponseRules) {
  std::vector<HeaderRule> rules = {{Op::kRemove, "server", ""},
                                   {Op::kSet, "Cache-Control", "no-store"}};
  DownstreamResponseOptions o = dopts(false, true, false, "ferry");
  o.rules = rules;
  std::string in =
      "HTTP/1.1 200 OK\r\nServer: apache\r\nCache-Control: max-age=60\r\nContent-Length: 0\r\n\r\n";
  Parser p(MessageType::kResponse);
  p.feed(in.data(), in.size());
  char out[512];
  HeadWriter w(out);
  EXPECT_TRUE(writeDownstreamResponse(p.head(), o, w).ok);
  EXPECT_EQ(w.view(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 ferry\r\n"
            "Cache-Control: no-store\r\n\r\n");
}

}  // namespace
}  // namespace ferry::http
