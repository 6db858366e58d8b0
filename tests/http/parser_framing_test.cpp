// Framing two peers could read two ways (issue 16, section 0): Connection naming framing
// fields, transfer codings, chunked bodies llhttp and ChunkedDecoder would split differently,
// oversized lengths, versions, extension methods, and trailers fed through a buffer that moves
// between reads. Each case failed (was accepted, or crashed) before the fix.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "proxy/http/parser.h"

namespace ferry::http {
namespace {

using namespace std::string_literals;
using S = Parser::Status;

// Feeds text in pieces of at most `step` bytes. The head comes from text itself (the parser's
// contract: a head stays where it was fed); every body piece is copied into a heap block of its
// own, freed right after the call, so a view the parser kept into an earlier body piece reads
// freed memory (AddressSanitizer reports it), as it would read a relay buffer compacted since.
struct Fed {
  S status = S::kNeedMore;
  std::size_t consumed = 0;
};
Fed feedMoving(Parser& p, const std::string& text, std::size_t step) {
  Fed r;
  std::size_t off = 0;
  std::size_t avail = 0;  // head bytes "received" so far
  while (true) {
    std::size_t n = std::min(step, text.size() - off);
    Parser::Step st{};
    if (!p.headComplete()) {
      avail = std::min(text.size(), std::max(avail, off) + step);
      st = p.feed(text.data() + off, avail - off);
    } else {
      auto piece = std::make_unique<char[]>(n + 1);
      std::memcpy(piece.get(), text.data() + off, n);
      st = p.feed(piece.get(), n);
    }
    off += st.consumed;
    r = {st.status, off};
    if (st.status == S::kError || st.status == S::kMessageComplete) return r;
    if (st.status == S::kHeadComplete) continue;  // the body from the next byte on
    if (off == text.size()) return r;
  }
}

S endOf(MessageType type, const std::string& text, std::size_t step = 1 << 20) {
  Parser p(type);
  return feedMoving(p, text, step).status;
}

int requestStatus(const std::string& text) {
  Parser p(MessageType::kRequest);
  Fed f = feedMoving(p, text, 1 << 20);
  return f.status == S::kError ? p.errorStatus() : 0;
}

TEST(ParserFraming, ConnectionMayNotNameFramingOrHost) {
  EXPECT_EQ(requestStatus("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n"
                          "Content-Length: 37\r\n\r\nGET /secret.txt HTTP/1.1\r\nHost: a\r\n\r\n"),
            400);
  EXPECT_EQ(requestStatus("POST / HTTP/1.1\r\nHost: a\r\nConnection: close, transfer-encoding\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400);
  EXPECT_EQ(requestStatus("GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n"), 400);
  EXPECT_EQ(requestStatus("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\n\r\n"), 0);
  EXPECT_EQ(endOf(MessageType::kResponse,
                  "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 1\r\n\r\nx"),
            S::kError);
}

TEST(ParserFraming, TransferCodingsOtherThanChunkedAreNotImplemented) {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\n";
  std::string body = "\r\n\r\n1\r\nx\r\n0\r\n\r\n";
  EXPECT_EQ(
      requestStatus(head + "Transfer-Encoding: xchunked\r\nTransfer-Encoding: chunked" + body),
      501);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: gzip, chunked" + body), 501);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: chunked, chunked" + body), 400);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: chunked;q=1" + body), 400);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: chunked" + body), 0);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: Chunked" + body), 0);
  EXPECT_EQ(requestStatus(head + "Transfer-Encoding: chunked, " + body), 400);  // llhttp, strict
  // A response may carry codings before a final chunked; it is forwarded as it is.
  EXPECT_EQ(endOf(MessageType::kResponse,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            S::kMessageComplete);
}

TEST(ParserFraming, ChunkedBodiesAreReadStrictly) {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{1} << 20}) {
    SCOPED_TRACE(step);
    Parser p(MessageType::kRequest);
    EXPECT_EQ(feedMoving(p, head + "1\r\nx\r\n0\r\n\n", step).status, S::kError);
    Parser q(MessageType::kRequest);
    EXPECT_EQ(feedMoving(q, head + "000000000000000001\r\nx\r\n0\r\n\r\n", step).status, S::kError);
    Parser r(MessageType::kRequest);
    EXPECT_EQ(feedMoving(r, head + "1;ext=1\r\nx\r\n0\r\n\r\n", step).status, S::kMessageComplete);
  }
  EXPECT_EQ(endOf(MessageType::kResponse,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n"),
            S::kError);
}

TEST(ParserFraming, ContentLengthBeyondSigned64BitsIsRefused) {
  EXPECT_EQ(requestStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n"
                          "\r\n"),
            400);
  Parser p(MessageType::kRequest);
  std::string ok = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n";
  EXPECT_EQ(p.feed(ok.data(), ok.size()).status, S::kHeadComplete);
}

TEST(ParserFraming, OnlyHttp10And11RequestsAreServed) {
  EXPECT_EQ(requestStatus("GET / HTTP/0.9\r\n\r\n"), 505);
  EXPECT_EQ(requestStatus("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(requestStatus("GET / HTTP/1.0\r\n\r\n"), 0);
  EXPECT_EQ(endOf(MessageType::kResponse, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            S::kError);
}

TEST(ParserFraming, ExtensionMethodsAreTokens) {
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{1} << 20}) {
    SCOPED_TRACE(step);
    Parser p(MessageType::kRequest);
    std::string req = "BREW /pot HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    Fed f = feedMoving(p, req, step);
    EXPECT_EQ(f.status, S::kMessageComplete) << p.error();
    EXPECT_EQ(f.consumed, req.size());
    EXPECT_EQ(p.head().method, "BREW");
    EXPECT_EQ(p.head().target, "/pot");
    EXPECT_EQ(p.head().headBytes, req.size() - 3);
    EXPECT_EQ(p.bodyBytes(), 3u);
    Parser known(MessageType::kRequest);
    const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";  // the head's views point here
    EXPECT_EQ(feedMoving(known, get, step).status, S::kMessageComplete);
    EXPECT_EQ(known.head().method, "GET");
    Parser prefix(MessageType::kRequest);  // a prefix of a method llhttp knows
    const std::string po = "PO / HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(feedMoving(prefix, po, step).status, S::kMessageComplete);
    EXPECT_EQ(prefix.head().method, "PO");
  }
  EXPECT_EQ(requestStatus("FOO@ / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(requestStatus(std::string(40, 'M') + " / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(ParserFraming, PipelinedRequestAfterAnExtensionMethodStartsAfresh) {
  Parser p(MessageType::kRequest);
  std::string two = "BREW / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  Parser::Step st = p.feed(two.data(), two.size());
  ASSERT_EQ(st.status, S::kHeadComplete);
  EXPECT_EQ(p.feed(two.data() + st.consumed, two.size() - st.consumed).status, S::kMessageComplete);
  std::size_t first = st.consumed;
  p.reset();
  st = p.feed(two.data() + first, two.size() - first);
  ASSERT_EQ(st.status, S::kHeadComplete);
  EXPECT_EQ(p.head().method, "GET");
  EXPECT_EQ(p.head().target, "/b");
}

// The trailer overflow: trailers split anywhere across reads of a moving buffer.
TEST(ParserFraming, TrailersSplitAcrossMovingReadsAreAccepted) {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string body = "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other-Long-Trailer-Name: v\r\n\r\n";
  for (std::size_t step = 1; step <= body.size(); ++step) {
    Parser p(MessageType::kRequest);
    Parser::Step st = p.feed(head.data(), head.size());
    ASSERT_EQ(st.status, S::kHeadComplete);
    Fed f = feedMoving(p, body, step);
    EXPECT_EQ(f.status, S::kMessageComplete) << "step " << step << ": " << p.error();
    EXPECT_EQ(f.consumed, body.size());
  }
  std::mt19937 rng(16);
  std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int round = 0; round < 200; ++round) {
    Parser p(MessageType::kResponse);
    ASSERT_EQ(p.feed(resp.data(), resp.size()).status, S::kHeadComplete);
    Fed f = feedMoving(p, body, 1 + rng() % 9);
    EXPECT_EQ(f.status, S::kMessageComplete) << p.error();
  }
}

TEST(ParserFraming, FoldedOrOversizedTrailersAreRefused) {
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_NE(requestStatus(head + "0\r\nX-A: a\r\n b\r\n\r\n"), 0);
  EXPECT_NE(requestStatus(head + "0\r\nX-A: " + std::string(20000, 'a') + "\r\n\r\n"), 0);
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_NE(requestStatus(head + "0\r\n" + many + "\r\n"), 0);
}

}  // namespace
}  // namespace ferry::http
