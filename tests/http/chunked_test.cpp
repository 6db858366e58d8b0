#include "proxy/http/chunked.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::http {
namespace {

using namespace std::string_literals;
using S = ChunkedDecoder::Status;

struct Out {
  S status;
  std::string payload;
  std::size_t consumed;
  std::string error;
};

// Feeds `wire` in pieces of `step` bytes, collecting the payload.
Out decode(const std::string& wire, std::size_t step) {
  ChunkedDecoder d;
  Out o{S::kNeedMore, "", 0, ""};
  std::size_t off = 0;
  while (off < wire.size()) {
    std::string_view piece(wire.data() + off, std::min(step, wire.size() - off));
    while (!piece.empty()) {
      ChunkedDecoder::Step st = d.next(piece);
      o.payload.append(st.payload);
      piece.remove_prefix(st.consumed);
      o.consumed += st.consumed;
      o.status = st.status;
      if (st.status != S::kNeedMore) {
        o.error = std::string(d.error());
        return o;
      }
    }
    off += std::min(step, wire.size() - off);
  }
  return o;
}

struct Case {
  const char* name;
  std::string wire;
  S status;
  std::string payload;
  std::size_t consumed;  // for kDone: the body's length in wire
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class Chunked : public ::testing::TestWithParam<Case> {};

TEST_P(Chunked, AnyPieceSizeGivesTheSameResult) {
  const Case& c = GetParam();
  for (std::size_t step :
       {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{1000}}) {
    Out o = decode(c.wire, step);
    EXPECT_EQ(o.status, c.status) << c.name << " step " << step << ": " << o.error;
    if (c.status != S::kError) {
      EXPECT_EQ(o.payload, c.payload) << c.name << " step " << step;
    }
    if (c.status == S::kDone) {
      EXPECT_EQ(o.consumed, c.consumed) << c.name << " step " << step;
    }
    if (c.status == S::kError) {
      EXPECT_FALSE(o.error.empty());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Chunked,
    ::testing::Values(
        Case{"simple", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", S::kDone, "hello world", 26},
        Case{"upper_hex_and_ext", "A;name=val;x\r\n0123456789\r\n0\r\n\r\n", S::kDone, "0123456789",
             31},
        Case{"trailers", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: \r\n\r\nNEXT", S::kDone, "abc", 28},
        Case{"stops_at_end", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1", S::kDone, "a", 11},
        Case{"leading_zeros", "0005\r\nhello\r\n0000\r\n\r\n", S::kDone, "hello", 21},
        Case{"binary_payload", "3\r\n\0\r\n\r\n0\r\n\r\n"s, S::kDone, "\0\r\n"s, 13},
        Case{"incomplete", "5\r\nhel", S::kNeedMore, "hel", 0},
        Case{"no_digits", "\r\n", S::kError, "", 0}, Case{"not_hex", "g\r\n", S::kError, "", 0},
        Case{"space_after_size", "5 \r\nhello\r\n0\r\n\r\n", S::kError, "", 0},
        Case{"bare_lf_size", "5\nhello\r\n0\r\n\r\n", S::kError, "", 0},
        Case{"bare_cr_size", "5\rhello\r\n0\r\n\r\n", S::kError, "", 0},
        Case{"no_crlf_after_data", "5\r\nhelloX\r\n0\r\n\r\n", S::kError, "", 0},
        Case{"lf_only_after_data", "5\r\nhello\n0\r\n\r\n", S::kError, "", 0},
        Case{"too_many_digits", "00000000000000001\r\n", S::kError, "", 0},
        Case{"nul_in_ext", "1;a\0\r\nx\r\n0\r\n\r\n"s, S::kError, "", 0},
        Case{"trailer_without_colon", "0\r\nbad trailer\r\n\r\n", S::kError, "", 0},
        Case{"trailer_bare_lf", "0\r\nX: 1\n\r\n", S::kError, "", 0},
        Case{"final_bare_cr", "0\r\n\rX", S::kError, "", 0},
        Case{"ext_too_long", "1;" + std::string(5000, 'a') + "\r\n", S::kError, "", 0}),
    [](const auto& paramInfo) { return std::string(paramInfo.param.name); });

TEST(ChunkedInPlace, CompactsThePayloadToTheFront) {
  std::string wire = "5\r\nhello\r\n1\r\n \r\n5;e\r\nworld\r\n0\r\n\r\nrest";
  ChunkedDecoder d;
  ChunkedDecoder::InPlace r = d.decodeInPlace(wire.data(), wire.size());
  EXPECT_EQ(r.status, S::kDone);
  EXPECT_EQ(r.consumed, wire.size() - 4);
  EXPECT_EQ(wire.substr(0, r.payloadBytes), "hello world");
  EXPECT_EQ(d.payloadTotal(), 11U);
  EXPECT_TRUE(d.done());
  d.reset();
  EXPECT_FALSE(d.done());
  std::string half = "3\r\nab";
  r = d.decodeInPlace(half.data(), half.size());
  EXPECT_EQ(r.status, S::kNeedMore);
  EXPECT_EQ(r.consumed, half.size());
  EXPECT_EQ(half.substr(0, r.payloadBytes), "ab");
}

TEST(ChunkedLarge, SizeAcrossPiecesAndBigChunk) {
  std::string payload(100000, 'x');
  std::string wire = "186a0\r\n" + payload + "\r\n0\r\n\r\n";
  Out o = decode(wire, 4096);
  EXPECT_EQ(o.status, S::kDone);
  EXPECT_EQ(o.payload.size(), payload.size());
}

}  // namespace
}  // namespace ferry::http
