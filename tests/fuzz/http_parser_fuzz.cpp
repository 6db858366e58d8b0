// libFuzzer target: the request and response Parser (whole and split at a fuzzer-chosen point),
// the ChunkedDecoder, the request-target parser and the PROXY protocol decoder, over one input.
// Built only with clang and FERRY_FUZZ=ON (tests/CMakeLists.txt); tests/fuzz/run.sh runs it.
// Besides crashes and sanitizer reports it checks invariants: consumed never exceeds the input,
// a kDone PROXY header fits in the input, and feeding in two pieces never accepts what feeding
// whole rejects.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "proxy/http/chunked.h"
#include "proxy/http/parser.h"
#include "proxy/http/proxy_protocol.h"
#include "proxy/http/responses.h"
#include "proxy/http/rewrite.h"
#include "proxy/http/target.h"

namespace {

using ferry::http::ChunkedDecoder;
using ferry::http::MessageType;
using ferry::http::Parser;

void check(bool ok) {
  if (!ok) std::abort();
}

// Feeds data in two pieces split at `split` (the caller's buffer grows: the first piece's bytes
// stay where they are), following the session's loop. Returns the final status.
Parser::Status run(MessageType type, std::string_view data, std::size_t split, bool noBody) {
  // split also picks the writers' options and output size below.
  Parser p(type, Parser::Limits{32, 256, 2048});
  p.setNoBody(noBody);
  std::size_t off = 0;
  std::size_t avail = split < data.size() ? split : data.size();
  Parser::Status last = Parser::Status::kNeedMore;
  for (int guard = 0; guard < 100000; ++guard) {
    Parser::Step st = p.feed(data.data() + off, avail - off);
    check(st.consumed <= avail - off);
    off += st.consumed;
    last = st.status;
    if (st.status == Parser::Status::kError) {
      check(!p.error().empty());
      return last;
    }
    if (st.status == Parser::Status::kHeadComplete) {
      const ferry::http::MessageHead& h = p.head();
      check(h.headerCount <= 32);
      // The writers over whatever head the parser accepted: they must stay inside their span.
      char out[8192];
      if (type == MessageType::kRequest) {
        check(h.target.size() <= 256);
        ferry::http::TargetParse t = ferry::http::parseRequestTarget(h.method, h.target);
        ferry::http::UpstreamRequestOptions o;
        o.clientAddress = "2001:db8::1";
        o.clientTrusted = (split & 1) != 0;
        o.forwarded = ferry::http::ForwardMode::kAppend;
        o.xForwardedHost = ferry::http::ForwardMode::kAppend;
        o.requestId = "0123456789abcdef0123456789abcdef";
        o.tunnel = h.upgrade;
        if (t.ok) o.target = &t.target;
        ferry::http::HeadWriter w(std::span<char>(out, split % sizeof(out)));
        bool ok = ferry::http::writeUpstreamRequest(h, o, w);
        check(w.size() <= split % sizeof(out) && ok == w.ok());
        ferry::http::HeadWriter tw(out);
        (void)ferry::http::writeTraceAnswer(h, ferry::http::ConnectionHeader::kClose, tw);
      } else {
        ferry::http::DownstreamResponseOptions o;
        o.clientHttp10 = (split & 1) != 0;
        o.clientKeepAlive = (split & 2) != 0;
        ferry::http::HeadWriter w(std::span<char>(out, split % sizeof(out)));
        ferry::http::ResponsePlan plan = ferry::http::writeDownstreamResponse(h, o, w);
        check(w.size() <= split % sizeof(out));
        check(!plan.dechunk || (plan.closeAfter && h.chunked));
      }
      continue;
    }
    if (st.status == Parser::Status::kMessageComplete) {
      p.reset();
      p.setNoBody(noBody);
      continue;
    }
    // kNeedMore: everything given was used.
    if (avail == data.size()) return p.finish().status;
    avail = data.size();
  }
  return last;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::size_t split = size == 0 ? 0 : bytes[0] % (size + 1);
  for (MessageType type : {MessageType::kRequest, MessageType::kResponse}) {
    Parser::Status whole = run(type, data, size, false);
    Parser::Status pieces = run(type, data, split, false);
    // Splitting may not turn a rejected stream into an accepted one (or the reverse).
    check((whole == Parser::Status::kError) == (pieces == Parser::Status::kError));
    run(type, data, split, true);
  }

  ChunkedDecoder d;
  std::string copy(data);
  ChunkedDecoder::InPlace r = d.decodeInPlace(copy.data(), copy.size());
  check(r.consumed <= size && r.payloadBytes <= r.consumed);

  for (auto accept : {ferry::http::ProxyVersions::kAny, ferry::http::ProxyVersions::kV1,
                      ferry::http::ProxyVersions::kV2}) {
    ferry::http::ProxyDecode pd = ferry::http::decodeProxyHeader(data, accept, 1024);
    if (pd.status == ferry::http::ProxyDecode::Status::kDone) {
      check(pd.consumed > 0 && pd.consumed <= size);
      char out[128];
      std::size_t n = pd.header.version == 1 ? ferry::http::encodeProxyV1(pd.header, out)
                                             : ferry::http::encodeProxyV2(pd.header, out);
      if (pd.header.kind == ferry::http::ProxyHeader::Kind::kProxy) check(n > 0);
    }
    if (pd.status == ferry::http::ProxyDecode::Status::kError) check(!pd.error.empty());
  }
  return 0;
}
