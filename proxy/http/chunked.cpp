#include "proxy/http/chunked.h"

#include <cstring>

namespace ferry::http {

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}
// Field value and extension bytes: visible characters, obs-text, space and tab.
bool isTextChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}
}  // namespace

ChunkedDecoder::Step ChunkedDecoder::fail(std::size_t consumed, const char* why) {
  state_ = State::kError;
  error_ = why;
  return {Status::kError, consumed, {}};
}

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) {
  std::size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case State::kSize: {
        int h = hexValue(c);
        if (h >= 0) {
          if (++digits_ > 16) return fail(i, "chunk size of more than 16 hex digits");
          remaining_ = remaining_ << 4 | static_cast<std::uint64_t>(h);
        } else if (digits_ == 0) {
          return fail(i, "chunk size is not a hex number");
        } else if (c == ';') {
          state_ = State::kExtension;
          extBytes_ = 0;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail(i, "invalid character after a chunk size");
        }
        ++i;
        break;
      }
      case State::kExtension:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!isTextChar(c)) {
          return fail(i, "invalid character in a chunk extension");
        } else if (++extBytes_ > kMaxExtensionBytes) {
          return fail(i, "chunk extension too long");
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail(i, "CR without LF after a chunk size");
        ++i;
        digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailerStart;
          trailerBytes_ = 0;
        } else {
          state_ = State::kData;
        }
        break;
      case State::kData: {
        std::size_t n = in.size() - i;
        if (n > remaining_) n = static_cast<std::size_t>(remaining_);
        remaining_ -= n;
        payloadTotal_ += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        return {Status::kNeedMore, i + n, in.substr(i, n)};
      }
      case State::kDataCr:
        if (c != '\r') return fail(i, "chunk data not followed by CRLF");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return fail(i, "chunk data not followed by CRLF");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (isTokenChar(c)) {
          state_ = State::kTrailerName;
        } else {
          return fail(i, "invalid trailer field");
        }
        if (++trailerBytes_ > kMaxTrailerBytes) return fail(i, "trailer section too large");
        ++i;
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (!isTokenChar(c)) {
          return fail(i, "invalid character in a trailer field name");
        }
        if (++trailerBytes_ > kMaxTrailerBytes) return fail(i, "trailer section too large");
        ++i;
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!isTextChar(c)) {
          return fail(i, "invalid character in a trailer field value");
        }
        if (++trailerBytes_ > kMaxTrailerBytes) return fail(i, "trailer section too large");
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail(i, "CR without LF in the trailer section");
        state_ = State::kTrailerStart;
        ++i;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail(i, "CR without LF at the end of a chunked body");
        state_ = State::kDone;
        return {Status::kDone, i + 1, {}};
      case State::kDone:
        return {Status::kDone, i, {}};
      case State::kError:
        return {Status::kError, i, {}};
    }
  }
  if (state_ == State::kDone) return {Status::kDone, i, {}};
  if (state_ == State::kError) return {Status::kError, i, {}};
  return {Status::kNeedMore, i, {}};
}

ChunkedDecoder::InPlace ChunkedDecoder::decodeInPlace(char* buf, std::size_t len) {
  std::size_t read = 0;
  std::size_t written = 0;
  while (true) {
    Step st = next(std::string_view(buf + read, len - read));
    if (!st.payload.empty()) {
      // The payload never lies before the write position: memmove handles the overlap.
      std::memmove(buf + written, st.payload.data(), st.payload.size());
      written += st.payload.size();
    }
    read += st.consumed;
    if (st.status != Status::kNeedMore || read == len) return {st.status, read, written};
  }
}

}  // namespace ferry::http
