#pragma once
// The access log: one line per request (or tunnel), in a configured format, written without a
// lock or a system call on the worker.
//
// Concurrency note: each worker formats its lines into its own ring (single producer); one
// background thread per log file (the writer, single consumer) drains every ring with write(2)
// / writev(2), whole lines at a time, so lines never interleave and a slow disk never stalls a
// worker. A full ring drops the line and counts it (ferry_access_log_dropped_lines_total), as
// does the writer for every line it fails to write (a file that cannot be opened, a full disk).
// reopen() (SIGUSR1, POST /reopen) makes each writer reopen its file before its next write:
// logrotate's rename-then-signal works without copytruncate.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::log {

// What one access-log line says. Views are valid for the call to AccessLog::log only.
struct AccessRecord {
  std::string_view clientAddress;  // without the port
  std::uint16_t clientPort = 0;
  std::string_view method;           // empty: not an HTTP request (a TCP tunnel, a bad head)
  std::string_view target;           // as received
  std::string_view protocol;         // "HTTP/1.1", "HTTP/1.0", "tcp"
  int status = 0;                    // 0: none answered
  std::uint64_t bytesIn = 0;         // from the client
  std::uint64_t bytesOut = 0;        // to the client
  std::int64_t bodyBytesOut = -1;    // of bytesOut, the body's (combined); -1: not known
  std::uint64_t durationUs = 0;      // head received to answer sent
  std::string_view upstream;         // the endpoint (host:port) of the last attempt; empty: none
  std::int64_t upstreamTimeUs = -1;  // time in upstream exchanges, all attempts; -1: none
  std::string_view cause = "ok";     // the termination cause (session::causeName)
  int retries = 0;
  bool reused = false;  // the last attempt went on a pooled connection
  std::string_view requestId;
  std::string_view route;
  std::string_view cluster;
  std::string_view listener;
  std::string_view userAgent;
  std::string_view referer;
};

// The fields a template names as %NAME%.
enum class AccessField : std::uint8_t {
  kTime,            // %TIME%: 2026-12-02T03:35:03.123Z (UTC)
  kClientAddress,   // %CLIENT_ADDRESS%
  kClientPort,      // %CLIENT_PORT%
  kMethod,          // %METHOD%
  kTarget,          // %TARGET%
  kProtocol,        // %PROTOCOL%
  kStatus,          // %STATUS%
  kBytesIn,         // %BYTES_IN%
  kBytesOut,        // %BYTES_OUT%
  kDurationUs,      // %DURATION_US%
  kUpstream,        // %UPSTREAM%
  kUpstreamTimeUs,  // %UPSTREAM_TIME_US%
  kCause,           // %CAUSE%
  kRetries,         // %RETRIES%
  kReused,          // %REUSED%: 1 or 0
  kRequestId,       // %REQUEST_ID%
  kRoute,           // %ROUTE%
  kCluster,         // %CLUSTER%
  kListener,        // %LISTENER%
  kUserAgent,       // %USER_AGENT%
  kReferer,         // %REFERER%
  kCount
};
std::string_view accessFieldName(AccessField f);

// A parsed access_log.format: "ferry" (the default), "combined" (NGINX/Apache combined), "json"
// (one object per line, every field) or a template of literal text and %FIELD% names (%% is a
// percent sign). Parsed once per config snapshot; formatting allocates nothing.
class AccessFormat {
 public:
  static constexpr std::string_view kDefault = "ferry";
  // The format, or nullopt with error set (an unknown %NAME%, an unclosed %).
  static std::optional<AccessFormat> parse(std::string_view spec, std::string& error);
  // Writes the line (with its '\n') into out; truncates to cap. Returns the length.
  std::size_t format(const AccessRecord& r, char* out, std::size_t cap) const;

 private:
  enum class Kind { kTemplate, kCombined, kJson };
  struct Segment {
    std::string literal;  // text before the field
    bool hasField = false;
    AccessField field = AccessField::kTime;
  };
  Kind kind_ = Kind::kTemplate;
  std::vector<Segment> segments_;
  std::vector<Segment> tcpSegments_;  // "ferry": its own line for TCP listeners
};

class AccessRing;

// One per worker, used only by that worker's thread.
class AccessLog {
 public:
  // A disabled log (enabled() false; log() costs one branch).
  AccessLog() = default;
  // Logs to path ("stdout", or a file appended to) in format (validated by the config loader; an
  // invalid one falls back to the default with an error logged). Set-up time.
  AccessLog(std::string_view path, std::string_view format);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  bool enabled() const { return ring_ != nullptr; }
  // Formats r into the worker's ring. No lock, no allocation, no system call.
  void log(const AccessRecord& r);

 private:
  std::shared_ptr<AccessRing> ring_;
  AccessFormat format_;
};

// Any thread: every access-log file is reopened before its next write (SIGUSR1, POST /reopen).
void reopen();
// Any thread: waits (up to 2 s) until every line logged before the call is written. For exit.
void flushAccessLogs();
// Lines dropped since start: a worker's ring was full, or the writer failed to write them.
std::uint64_t accessLogDropped();

}  // namespace ferry::log
