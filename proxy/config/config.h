#pragma once
// The configuration model: an immutable snapshot built and validated by the loader. Workers keep
// a shared_ptr<const Config>; a reload builds a new one and switches at a safe point. Listeners,
// routes (within a listener) and clusters are identified by name, which the loader makes unique.
//
// Every key a user can write is declared once, in keys.cpp: its type, default, range and doc line
// drive the loader, the unknown-key check, the JSON Schema (jsonSchema()) and the reference table
// (referenceTable()). A Duration of zero in this model means "off" (the user wrote `off`).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/cidr.h"
#include "proxy/common/time.h"
#include "proxy/io/address.h"

namespace ferry::config {

struct Location {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  // Where a key was written is no part of what it defines: a route moved in the file is the
  // same route (the reload diff compares definitions with ==).
  bool operator==(const Location&) const { return true; }
};

struct ConfigError {
  Location where;
  std::string path;  // the key, e.g. "listeners[0].routes[1].timeout"; empty for file-level errors
  std::string message;
  std::string hint;  // may be empty
  // "file:line:col: path.to.key: message (hint)"
  std::string format() const;
};

// A header or query-parameter condition of a route.
struct ValueMatch {
  enum class Kind {
    kPresent,  // the header / parameter is there, any value
    kExact,    // its value equals value (case-sensitive)
    kRegex,    // its whole value matches the RE2 expression value
  };
  std::string name;
  Kind kind = Kind::kPresent;
  std::string value;
  bool operator==(const ValueMatch&) const = default;  // same definition (reload diff)
};

struct RouteMatch {
  std::string host;                  // empty: any host; "*.example.com": any subdomain; else exact
  std::string pathPrefix = "/";      // the request path starts with this
  std::string path;                  // non-empty: the path equals this
  std::string pathRegex;             // non-empty: the whole path matches this RE2 expression
  std::vector<std::string> methods;  // empty: any method
  std::vector<ValueMatch> headers;   // all must hold
  std::vector<ValueMatch> query;     // all must hold (raw, undecoded parameter values)
  bool operator==(const RouteMatch&) const = default;  // same definition (reload diff)
};

struct WeightedCluster {
  std::string name;
  std::uint32_t weight = 1;
  bool operator==(const WeightedCluster&) const = default;  // same definition (reload diff)
};

// Jittered exponential backoff between tries: try n waits a random time in
// [0, min(max, base * 2^(n-1))] ("full jitter").
struct BackoffConfig {
  Duration base = milliseconds(25);
  Duration max = milliseconds(250);
  bool operator==(const BackoffConfig&) const = default;  // same definition (reload diff)
};

struct RetryConfig {
  // connect-failure, refused, reset, 5xx, 503, timeout
  std::vector<std::string> retryOn = {"connect-failure", "refused", "reset"};
  std::uint32_t maxRetries = 1;
  Duration perTryTimeout{0};  // 0: off (the route's timeout bounds all tries)
  BackoffConfig backoff;
  bool operator==(const RetryConfig&) const = default;  // same definition (reload diff)
};

// Retries a cluster accepts per worker, over a sliding 10 s window: at most
// min_retries_per_second x 10 + percent of the requests in that window.
struct RetryBudgetConfig {
  std::uint32_t percent = 20;
  std::uint32_t minRetriesPerSecond = 3;
  bool operator==(const RetryBudgetConfig&) const = default;  // same definition (reload diff)
};

// Passive health: an endpoint that fails this many times in a row is ejected (skipped by the
// balancer) for base_ejection_time x the number of times it was ejected.
struct OutlierDetectionConfig {
  std::uint32_t consecutive5xx = 5;              // 5xx responses in a row; 0: off
  std::uint32_t consecutiveConnectFailures = 5;  // failed connects in a row; 0: off
  Duration baseEjectionTime = seconds(30);
  std::uint32_t maxEjectionPercent = 10;  // of the endpoints; at least one may be ejected
  bool operator==(const OutlierDetectionConfig&) const = default;  // same definition (reload diff)
};

enum class HealthCheckType {
  kHttp,  // a GET of path; healthy when the status is expect_status (absent: any 2xx)
  kTcp,   // healthy when a connect succeeds
};

// Active health checks, run by one worker and shared with every worker.
struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::kHttp;
  std::string path = "/";
  std::string host;                // the Host sent; empty: the endpoint's address
  std::uint32_t expectStatus = 0;  // 0: any 2xx
  Duration interval = seconds(5);
  Duration timeout = seconds(1);
  std::uint32_t healthyThreshold = 2;    // passes in a row that make an endpoint healthy again
  std::uint32_t unhealthyThreshold = 3;  // failures in a row that make it unhealthy
  bool operator==(const HealthCheckConfig&) const = default;  // same definition (reload diff)
};

struct HeaderRules {
  std::vector<std::pair<std::string, std::string>> add;  // appended, even if present
  std::vector<std::pair<std::string, std::string>> set;  // replaces every existing value
  std::vector<std::string> remove;                       // every field with this name
  bool empty() const { return add.empty() && set.empty() && remove.empty(); }
  bool operator==(const HeaderRules&) const = default;  // same definition (reload diff)
};

struct DirectResponse {
  int status = 200;
  std::string body;
  bool operator==(const DirectResponse&) const = default;  // same definition (reload diff)
};

struct Redirect {
  std::string to;  // the Location value
  int status = 302;
  bool operator==(const Redirect&) const = default;  // same definition (reload diff)
};

struct RouteConfig {
  std::string name;  // unique in its listener: the user's, or generated from the cluster
  RouteMatch match;
  std::string cluster;                    // the one cluster; empty when one of the below is set
  std::vector<WeightedCluster> clusters;  // a weighted split over several clusters
  std::optional<DirectResponse> directResponse;  // answered by ferry itself
  std::optional<Redirect> redirect;              // answered by ferry itself
  Duration timeout{0};                           // whole exchange, 504; 0: off
  std::optional<RetryConfig> retry;              // overrides the cluster's policy when set
  HeaderRules requestHeaders;
  HeaderRules responseHeaders;
  bool allowTrace = false;  // TRACE is answered 405 unless this is true
  Location where;
  bool operator==(const RouteConfig&) const = default;  // same definition (reload diff)
};

enum class ListenerKind {
  kProxy,   // HTTP reverse proxy: routes to clusters
  kStatic,  // serves files from a directory (built-in backends, demos)
};

enum class ListenerProtocol {
  kHttp,  // HTTP/1.1: routes (or static)
  kTcp,   // raw bytes to `cluster`
};

enum class ForwardMode {
  kAppend,   // add to what a trusted client sent (replace for an untrusted one)
  kReplace,  // always replace with ferry's own value
  kOff,      // pass through untouched
};

struct ForwardingConfig {
  ForwardMode xForwardedFor = ForwardMode::kAppend;
  ForwardMode xForwardedProto = ForwardMode::kAppend;
  ForwardMode xForwardedHost = ForwardMode::kOff;
  ForwardMode forwarded = ForwardMode::kOff;                 // RFC 7239
  bool operator==(const ForwardingConfig&) const = default;  // same definition (reload diff)
};

// An address range, e.g. 10.0.0.0/8 or fd00::/8, as written and as parsed (by the one CIDR
// parser, proxy/common/cidr.h; the config insists on an explicit prefix).
struct Cidr {
  CidrRange range{};
  std::string text;  // as written
  // Parses "a.b.c.d/n" or "v6/n"; on failure returns nullopt and sets error (why, after the
  // quoted text in the loader's message).
  static std::optional<Cidr> parse(std::string_view s, std::string& error);
  bool operator==(const Cidr&) const = default;  // same definition (reload diff)
};

struct ErrorPage {
  int status = 0;
  std::string file;  // absolute (resolved against the config file's directory); exists at load
  bool operator==(const ErrorPage&) const = default;  // same definition (reload diff)
};

struct ListenerConfig {
  std::string name;
  io::Address address;
  ListenerKind kind = ListenerKind::kProxy;
  ListenerProtocol protocol = ListenerProtocol::kHttp;
  std::vector<RouteConfig> routes;              // kProxy over HTTP, first match wins
  std::string staticRoot;                       // kStatic, absolute
  bool staticSymlinksOutsideRoot = false;       // kStatic: follow symlinks out of the root
  std::string cluster;                          // kTcp: where bytes go
  Duration requestHeaderTimeout = seconds(10);  // the whole head must arrive in this time: 408
  Duration idleTimeout = seconds(60);           // keep-alive wait for the next request; 0: off
  Duration sendTimeout = seconds(30);           // a client that does not read is cut off; 0: off
  Duration requestBodyTimeout = seconds(30);    // between body bytes from the client: 408; 0: off
  Duration tunnelIdleTimeout = std::chrono::hours(1);  // WebSocket / TCP without bytes; 0: off
  Duration retryAfter = seconds(1);                    // Retry-After on ferry's 503s; 0: none
  std::uint32_t maxRequestHeaderBytes = 16384;         // larger heads: 431
  std::uint64_t maxRequestBodyBytes = 0;               // 0: unlimited; a larger Content-Length: 413
  std::uint32_t maxRequestTargetBytes = 8192;          // a longer request target: 414
  std::uint32_t maxRequestHeaders = 100;               // more header fields: 431
  std::string via = "ferry";                           // pseudonym in Via; empty: no Via added
  ForwardingConfig forwarding;
  std::vector<Cidr> trustedProxies;  // clients whose forwarding headers / request id are kept
  bool requestId = true;             // keep a trusted X-Request-Id or generate one
  std::vector<ErrorPage> errorPages;
  bool acceptProxyProtocol = false;                        // read a PROXY v1/v2 header first
  Duration proxyProtocolTimeout = seconds(5);              // for that header
  std::uint32_t backlog = 4096;                            // listen() backlog
  bool operator==(const ListenerConfig&) const = default;  // same definition (reload diff)
};

enum class BalancePolicy {
  kRoundRobin,
  kWeightedRoundRobin,
  kLeastRequest,
  kRandom,
  kRingHash,
  kMaglev,
};

struct HashOn {
  enum class Kind {
    kNone,      // not set (policy is not a hash)
    kSourceIp,  // the client's address
    kPath,      // the request path
    kHeader,    // the value of header `name`
    kCookie,    // the value of cookie `name`
  };
  Kind kind = Kind::kNone;
  std::string name;
  bool operator==(const HashOn&) const = default;  // same definition (reload diff)
};

struct BalanceConfig {
  BalancePolicy policy = BalancePolicy::kRoundRobin;
  HashOn hashOn;          // ring_hash, maglev: what is hashed (the loader requires it)
  Duration slowStart{0};  // a new or recovered endpoint's weight ramps up over this; 0: off
  bool operator==(const BalanceConfig&) const = default;  // same definition (reload diff)
};

enum class ProxyProtocolVersion { kOff, kV1, kV2 };

// One backend of a cluster: `HOST:PORT`, where HOST is an IP literal (`10.0.0.1`, `[::1]`) or a
// DNS name resolved off the workers (proxy/upstream/resolver.h).
struct EndpointConfig {
  // The endpoint's identity, normalized from what was written: `host:port` with a lower-case
  // name, or the literal's canonical text (`127.0.0.1:80`, `[::1]:80`). It names the endpoint
  // everywhere: the balancer's endpoint, the pool, the metrics label `endpoint`, /clusters.
  std::string address;
  std::string host;                    // without brackets; lower case for a name
  std::uint16_t port = 0;              // 1-65535
  std::optional<io::Address> literal;  // set when host is an IP literal: never resolved
  std::uint32_t weight = 1;            // relative share for the weighted policies
  bool isName() const { return !literal.has_value(); }
  bool operator==(const EndpointConfig&) const = default;  // same definition (reload diff)
};

// Parses an endpoint's `HOST:PORT` (`[v6]:PORT` for IPv6). On failure returns nullopt and sets
// error to why (after the quoted text in the loader's message) and hint to what to write. Pure.
std::optional<EndpointConfig> parseEndpoint(std::string_view text, std::string& error);

// How often a cluster's DNS names are resolved again: each answer's TTL clamped to [min, max];
// a failing name is retried after min, doubling up to max.
struct DnsRefreshConfig {
  Duration min = seconds(5);
  Duration max = seconds(300);
  bool operator==(const DnsRefreshConfig&) const = default;  // same definition (reload diff)
};

// The process's DNS resolver (started only when some cluster has a DNS name).
struct ResolverConfig {
  std::string nameservers;  // "IP[:port],..." ("[v6]:port"); empty: the system's
  bool operator==(const ResolverConfig&) const = default;
};

struct ClusterConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;  // as written, in order (names unique in the cluster)
  DnsRefreshConfig dnsRefresh;            // for the endpoints that are DNS names
  Duration connectTimeout = seconds(2);
  Duration responseTimeout = seconds(30);  // between bytes from the backend: 504; 0: off
  std::uint32_t maxIdlePerWorker = 64;     // idle keep-alive connections kept per endpoint
  Duration idleTimeout = seconds(60);      // idle pooled connections older than this are closed
  // Pool limits (per endpoint and worker) and admission (per cluster and worker).
  std::uint32_t maxConnections = 0;            // open connections per endpoint; 0: no limit
  std::uint32_t minIdle = 0;                   // idle connections opened ahead of demand
  std::uint32_t maxRequestsPerConnection = 0;  // then the connection closes; 0: no limit
  Duration maxConnectionLifetime{};            // then the connection closes; zero: no limit
  std::uint32_t maxActiveRequests = 0;         // in flight, over it 503 at once; 0: no limit
  std::uint32_t maxPendingRequests = 1024;     // waiting for a connection, over it 503 at once
  Duration queueTimeout = seconds(5);          // the longest wait for a connection: then 503
  BalanceConfig balance;
  std::string hostRewrite;  // non-empty: the Host sent to backends; empty: the client's
  ProxyProtocolVersion proxyProtocol = ProxyProtocolVersion::kOff;
  RetryConfig retry;  // the default policy of routes to this cluster
  RetryBudgetConfig retryBudget;
  std::optional<OutlierDetectionConfig> outlierDetection;  // absent: off
  std::optional<HealthCheckConfig> healthCheck;            // absent: no active checks
  std::uint32_t healthyPanicThreshold = 50;  // percent; below it every endpoint is used
  bool operator==(const ClusterConfig&) const = default;  // same definition (reload diff)
};

// admin.control: where the control operations (POST /reload, /drain, /reopen; GET /config,
// /clusters) are served besides a loopback admin address (proxy/admin/admin.h).
struct AdminControlConfig {
  io::Address address;    // a second listener for them; invalid: none
  std::string socket;     // a Unix socket path for them (not on Windows); empty: none
  std::string tokenFile;  // a file holding a bearer token that unlocks them anywhere; empty: none
  std::string token;      // its contents (trailing whitespace cut), read when the config loads
};

struct AdminConfig {
  bool enabled = true;
  io::Address address;
  AdminControlConfig control;
};

// 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: an address only this host can reach.
bool isLoopback(const io::Address& a);

// access_log: `true`/`false`, or {enabled, format, path}.
struct AccessLogConfig {
  bool enabled = true;
  std::string format = "ferry";  // ferry, combined, json, or a %FIELD% template
  std::string path = "stdout";   // stdout, or a file (appended to; reopened on SIGUSR1)
  bool operator==(const AccessLogConfig&) const = default;  // same definition (reload diff)
};

struct Config {
  std::string file;         // where it was loaded from
  unsigned workers = 0;     // 0: one per core
  std::string io = "auto";  // auto, io_uring, epoll
  std::string logLevel = "info";
  AccessLogConfig accessLog;
  Duration drainDelay = seconds(0);     // on stop: /ready is 503 this long before accepts end
  Duration drainTimeout = seconds(30);  // on stop: in-flight requests get this long to finish
  bool watch = false;                   // reload when the file changes (runtime/watch)
  std::uint32_t maxConnections = 0;     // client connections of the process; 0: auto (fd limit)
  AdminConfig admin;
  ResolverConfig resolver;
  std::vector<ListenerConfig> listeners;
  std::vector<ClusterConfig> clusters;

  const ClusterConfig* findCluster(const std::string& name) const;
  const ListenerConfig* findListener(const std::string& name) const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;
};

// Reads and validates a YAML config. Every error is collected (not just the first), each with
// file:line:column and the key's path. Relative paths resolve against the file's directory.
LoadResult loadFile(const std::string& path);
// The same for YAML text; fileName is used in error locations and baseDir for relative paths.
LoadResult loadString(const std::string& text, const std::string& fileName,
                      const std::string& baseDir);

// The JSON Schema (draft-07) of the config file, generated from the key table. Deterministic:
// config/ferry.schema.json is this text.
std::string jsonSchema();
// The reference table of every key (Markdown), generated from the key table: config/README.md
// carries it between <!-- keys:begin --> and <!-- keys:end -->.
std::string referenceTable();

}  // namespace ferry::config
