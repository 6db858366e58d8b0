// The table of every config key. Adding a key: add a model field in config.h, then one Field
// here (name, type, default, range, doc, setter); the loader, the JSON Schema and the reference
// table follow. Checks that relate several keys of one mapping go in the Section's validate.

#include "proxy/config/keys.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "proxy/common/access_log.h"

namespace ferry::config::keys {
namespace {

using L = ListenerConfig;
using C = ClusterConfig;
using R = RouteConfig;
using M = RouteMatch;

constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kMinute = 60 * kSecond;
constexpr std::uint64_t kHour = 60 * kMinute;
constexpr std::uint64_t kDay = 24 * kHour;
constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

// Patterns shared by the loader (RE2, whole value) and the schema (ECMA-262): a common subset.
constexpr const char* kNamePattern = "^[A-Za-z0-9_.-]+$";
constexpr const char* kHostPattern =
    "^(\\*|\\*\\.[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|\\[[0-9A-Fa-f:.]"
    "+\\])$";
constexpr const char* kHostPortPattern =
    "^([A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$";
constexpr const char* kPathPattern = "^/[^ ]*$";
constexpr const char* kMethodPattern = "^[A-Z]+$";
constexpr const char* kTokenPattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

std::string checkRegex(std::string_view s) {
  RE2::Options o;
  o.set_log_errors(false);
  RE2 re(re2::StringPiece(s.data(), s.size()), o);
  if (re.ok()) return {};
  return "not a valid RE2 regular expression: " + re.error();
}

// ---- admin ----
// The token file is read here, at load (and so at every reload and --check): a file that is
// missing, unreadable or empty is a config error, never a control listener left open.
void validateAdminControl(Reporter& r, void* obj) {
  auto& c = *static_cast<AdminControlConfig*>(obj);
  if (!c.socket.empty()) {
#ifdef _WIN32
    r.error("socket", "Unix sockets are not supported on Windows", "use control.address");
#else
    c.socket = r.resolvePath(c.socket);
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::path(c.socket).parent_path();
    if (c.socket.size() >= 100) {
      r.error("socket", "'" + c.socket + "' is too long for a Unix socket path (99 bytes at most)");
    } else if (!std::filesystem::is_directory(dir, ec)) {
      r.error("socket", "the directory of '" + c.socket + "' does not exist");
    }
#endif
  }
  if (c.tokenFile.empty()) return;
  c.tokenFile = r.resolvePath(c.tokenFile);
  std::ifstream in(c.tokenFile, std::ios::binary);
  std::string text;
  char buf[1024];
  while (in && text.size() <= 4096) {
    in.read(buf, sizeof(buf));
    text.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  if (!in.is_open() || in.bad() || std::filesystem::is_directory(c.tokenFile)) {
    r.error("token_file", "cannot read '" + c.tokenFile + "'",
            "the file must exist and be readable by ferry's user");
    return;
  }
  if (text.size() > 4096) {
    r.error("token_file", "'" + c.tokenFile + "' is over 4 KiB: it must hold one token");
    return;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) {
    r.error("token_file", "'" + c.tokenFile + "' is empty",
            "write a long random token into it, e.g. openssl rand -hex 32");
    return;
  }
  if (text.find_first_of(" \t\r\n") != std::string::npos) {
    r.error("token_file", "'" + c.tokenFile + "' must hold one token (no whitespace inside)");
    return;
  }
  c.token = std::move(text);
}
constexpr Field kAdminControl[] = {
    {.name = "address",
     .type = Type::kAddress,
     .doc = "A second admin listener that serves every admin path, the control operations "
            "included. Must be loopback (127.0.0.1, ::1) unless `token_file` is set.",
     .set = set<&AdminControlConfig::address>},
    {.name = "socket",
     .type = Type::kString,
     .doc = "A Unix socket path (not on Windows; relative to the config file's directory) that "
            "serves every admin path, the control operations included, as HAProxy's stats "
            "socket. Created mode 0600: only ferry's user (and root) may connect.",
     .flags = kNonEmpty,
     .set = set<&AdminControlConfig::socket>},
    {.name = "token_file",
     .type = Type::kString,
     .doc = "A file holding a bearer token (read at load and reload; missing, unreadable or "
            "empty is an error). A request with `Authorization: Bearer <token>` may use the "
            "control operations on any admin address.",
     .flags = kNonEmpty,
     .set = set<&AdminControlConfig::tokenFile>},
};
constexpr Section kAdminControlSection{.name = "admin_control",
                                       .where = "admin.control",
                                       .fields = kAdminControl,
                                       .validate = validateAdminControl};

void validateAdmin(Reporter& r, void* obj) {
  auto& a = *static_cast<AdminConfig*>(obj);
  const AdminControlConfig& c = a.control;
  if (!c.address.valid()) return;
  if (!isLoopback(c.address) && c.token.empty() && c.tokenFile.empty()) {
    r.error("control", "control.address " + c.address.toString() + " is not a loopback address",
            "bind it to 127.0.0.1 or ::1, or set control.token_file");
  }
  if (c.address == a.address && c.address.port() != 0) {
    r.error("control", "control.address is the admin address " + a.address.toString(),
            "give the control listener its own port");
  }
}
constexpr Field kAdmin[] = {
    {.name = "address",
     .type = Type::kAddress,
     .defaultText = "127.0.0.1:9901",
     .doc = "Address of the admin listener (/metrics, /healthz, /ready, /listeners). Control "
            "operations (POST /reload, /drain, /reopen; GET /config, /clusters) are served here "
            "only when it is loopback, or with the `control` bearer token: 403 otherwise.",
     .set = set<&AdminConfig::address>},
    {.name = "enabled",
     .type = Type::kBool,
     .defaultText = "true",
     .doc = "Serve the admin listener at all.",
     .set = set<&AdminConfig::enabled>},
    {.name = "control",
     .type = Type::kObject,
     .doc = "Where the control operations are allowed besides a loopback `address`: "
            "`{address, socket, token_file}`.",
     .section = &kAdminControlSection,
     .child = child<&AdminConfig::control>},
};
constexpr Section kAdminSection{
    .name = "admin", .where = "admin", .fields = kAdmin, .validate = validateAdmin};

// ---- forwarding ----
constexpr const char* kForwardModes[] = {"append", "replace", "off"};
constexpr Field kForwarding[] = {
    {.name = "x_forwarded_for",
     .type = Type::kEnum,
     .defaultText = "append",
     .doc = "X-Forwarded-For: append the client address (replace for untrusted clients), "
            "replace, or off.",
     .choices = kForwardModes,
     .set = set<&ForwardingConfig::xForwardedFor>},
    {.name = "x_forwarded_proto",
     .type = Type::kEnum,
     .defaultText = "append",
     .doc = "X-Forwarded-Proto: the scheme the client used.",
     .choices = kForwardModes,
     .set = set<&ForwardingConfig::xForwardedProto>},
    {.name = "x_forwarded_host",
     .type = Type::kEnum,
     .defaultText = "off",
     .doc = "X-Forwarded-Host: the Host the client sent.",
     .choices = kForwardModes,
     .set = set<&ForwardingConfig::xForwardedHost>},
    {.name = "forwarded",
     .type = Type::kEnum,
     .defaultText = "off",
     .doc = "RFC 7239 Forwarded (for, proto, host).",
     .choices = kForwardModes,
     .set = set<&ForwardingConfig::forwarded>},
};
constexpr Section kForwardingSection{
    .name = "forwarding", .where = "listeners[].forwarding", .fields = kForwarding};

// ---- static ----
constexpr Field kStatic[] = {
    {.name = "root",
     .type = Type::kString,
     .doc = "Directory served (relative to the config file's directory).",
     .flags = kRequired | kNonEmpty,
     .set = set<&L::staticRoot>},
    {.name = "symlinks_outside_root",
     .type = Type::kBool,
     .defaultText = "false",
     .doc = "Follow symlinks that lead out of `root`. By default a file is opened beneath `root` "
            "only (Linux: openat2 RESOLVE_BENEATH): a symlink that stays inside works, one that "
            "leads out gives 404.",
     .set = set<&L::staticSymlinksOutsideRoot>},
};
void validateStatic(Reporter& r, void* obj) {
  auto& l = *static_cast<L*>(obj);
  if (l.staticRoot.empty()) return;
  l.staticRoot = r.resolvePath(l.staticRoot);
  std::error_code ec;
  if (!std::filesystem::is_directory(l.staticRoot, ec)) {
    r.error("root", "'" + l.staticRoot + "' is not a directory");
  }
}
constexpr Section kStaticSection{
    .name = "static", .where = "listeners[].static", .fields = kStatic, .validate = validateStatic};

// ---- header and query conditions ----
void validateValueMatch(Reporter& r, void* obj) {
  auto& m = *static_cast<ValueMatch*>(obj);
  int n = int(r.has("present")) + int(r.has("exact")) + int(r.has("regex"));
  if (n > 1) r.error("exact", "use only one of present, exact and regex");
  if (r.has("regex")) m.kind = ValueMatch::Kind::kRegex;
  if (r.has("exact")) m.kind = ValueMatch::Kind::kExact;
}
void setPresent(void* obj, const Value& v) {
  auto& m = *static_cast<ValueMatch*>(obj);
  m.kind = ValueMatch::Kind::kPresent;
  (void)v;
}
constexpr const char* kTrue[] = {"true"};
constexpr Field kHeaderMatch[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "Header field name (case-insensitive).",
     .flags = kRequired,
     .pattern = kTokenPattern,
     .set = set<&ValueMatch::name>},
    {.name = "present",
     .type = Type::kBool,
     .doc = "Matches when the header is there, whatever its value (the default condition).",
     .choices = kTrue,
     .set = setPresent},
    {.name = "exact",
     .type = Type::kString,
     .doc = "Matches when a value equals this (case-sensitive).",
     .set = set<&ValueMatch::value>},
    {.name = "regex",
     .type = Type::kString,
     .doc = "Matches when a whole value matches this RE2 expression.",
     .check = checkRegex,
     .set = set<&ValueMatch::value>},
};
constexpr Section kHeaderMatchSection{.name = "header_match",
                                      .where = "routes[].match.headers[]",
                                      .fields = kHeaderMatch,
                                      .validate = validateValueMatch,
                                      .extraSchema = "\"maxProperties\": 2"};
constexpr Field kQueryMatch[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "Query parameter name (case-sensitive, undecoded).",
     .flags = kRequired | kNonEmpty,
     .set = set<&ValueMatch::name>},
    {.name = "present",
     .type = Type::kBool,
     .doc = "Matches when the parameter is there, whatever its value (the default condition).",
     .choices = kTrue,
     .set = setPresent},
    {.name = "exact",
     .type = Type::kString,
     .doc = "Matches when the raw value equals this.",
     .set = set<&ValueMatch::value>},
    {.name = "regex",
     .type = Type::kString,
     .doc = "Matches when the whole raw value matches this RE2 expression.",
     .check = checkRegex,
     .set = set<&ValueMatch::value>},
};
constexpr Section kQueryMatchSection{.name = "query_match",
                                     .where = "routes[].match.query[]",
                                     .fields = kQueryMatch,
                                     .validate = validateValueMatch,
                                     .extraSchema = "\"maxProperties\": 2"};

// ---- route match ----
void validateMatch(Reporter& r, void*) {
  int n = int(r.has("path")) + int(r.has("path_prefix")) + int(r.has("path_regex"));
  if (n > 1) {
    r.error(r.has("path_regex") ? "path_regex" : "path",
            "use only one of path, path_prefix and path_regex");
  }
}
constexpr Field kMatch[] = {
    {.name = "host",
     .type = Type::kString,
     .doc = "Host (port ignored, case-insensitive): exact, or `*.example.com` for any "
            "subdomain; absent: any host.",
     .pattern = kHostPattern,
     .set = set<&M::host>},
    {.name = "path_prefix",
     .type = Type::kString,
     .defaultText = "/",
     .doc = "The path starts with this.",
     .pattern = kPathPattern,
     .set = set<&M::pathPrefix>},
    {.name = "path",
     .type = Type::kString,
     .doc = "The path (without the query) equals this.",
     .pattern = kPathPattern,
     .set = set<&M::path>},
    {.name = "path_regex",
     .type = Type::kString,
     .doc = "The whole path matches this RE2 expression (linear time).",
     .check = checkRegex,
     .set = set<&M::pathRegex>},
    {.name = "methods",
     .type = Type::kStringList,
     .doc = "The request method is one of these, e.g. [GET, HEAD].",
     .flags = kNonEmpty,
     .pattern = kMethodPattern,
     .set = set<&M::methods>},
    {.name = "headers",
     .type = Type::kObjectList,
     .doc = "Every listed header condition holds: `{name, present | exact | regex}`.",
     .section = &kHeaderMatchSection,
     .child = child<&M::headers>},
    {.name = "query",
     .type = Type::kObjectList,
     .doc = "Every listed query parameter condition holds: `{name, present | exact | regex}`.",
     .section = &kQueryMatchSection,
     .child = child<&M::query>},
};
constexpr Section kMatchSection{
    .name = "match",
    .where = "routes[].match",
    .fields = kMatch,
    .validate = validateMatch,
    .extraSchema =
        "\"not\": {\"anyOf\": [{\"required\": [\"path\", \"path_prefix\"]}, "
        "{\"required\": [\"path\", \"path_regex\"]}, "
        "{\"required\": [\"path_prefix\", \"path_regex\"]}]}"};

// ---- weighted clusters, retry, header rules, answers ----
constexpr Field kWeighted[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "A cluster.",
     .flags = kRequired,
     .pattern = kNamePattern,
     .set = set<&WeightedCluster::name>},
    {.name = "weight",
     .type = Type::kUint,
     .defaultText = "1",
     .min = 0,
     .max = 10000,
     .doc = "Its share of the requests, relative to the others' weights.",
     .set = set<&WeightedCluster::weight>},
};
constexpr Section kWeightedSection{
    .name = "weighted_cluster", .where = "routes[].clusters[]", .fields = kWeighted};

void validateBackoff(Reporter& r, void* obj) {
  auto& b = *static_cast<BackoffConfig*>(obj);
  if (b.base > b.max) r.error("base", "the backoff base is longer than its max");
}
constexpr Field kBackoff[] = {
    {.name = "base",
     .type = Type::kDuration,
     .defaultText = "25ms",
     .min = 1,
     .max = kMinute,
     .doc = "Retry n waits a random time up to min(max, base x 2^(n-1)).",
     .set = set<&BackoffConfig::base>},
    {.name = "max",
     .type = Type::kDuration,
     .defaultText = "250ms",
     .min = 1,
     .max = kMinute,
     .doc = "The longest wait before a retry.",
     .set = set<&BackoffConfig::max>},
};
constexpr Section kBackoffSection{.name = "backoff",
                                  .where = "clusters[].retry.backoff, routes[].retry.backoff",
                                  .fields = kBackoff,
                                  .validate = validateBackoff};

constexpr const char* kRetryOn[] = {"connect-failure", "refused", "reset", "5xx", "503", "timeout"};
constexpr Field kRetry[] = {
    {.name = "retry_on",
     .type = Type::kStringList,
     .defaultText = "[\"connect-failure\", \"refused\", \"reset\"]",
     .doc = "Conditions that allow a retry (only ever of a request that is safe to send again; "
            "5xx and 503 only while nothing of the response reached the client).",
     .choices = kRetryOn,
     .set = set<&RetryConfig::retryOn>},
    {.name = "max_retries",
     .type = Type::kUint,
     .defaultText = "1",
     .min = 0,
     .max = 10,
     .doc = "Retries after the first try.",
     .set = set<&RetryConfig::maxRetries>},
    {.name = "per_try_timeout",
     .type = Type::kDuration,
     .defaultText = "off",
     .min = 1,
     .max = kDay,
     .doc = "Time limit of each try; `off`: only the route's timeout.",
     .flags = kOff,
     .set = set<&RetryConfig::perTryTimeout>},
    {.name = "backoff",
     .type = Type::kObject,
     .doc = "Jittered exponential backoff between tries: `{base, max}`.",
     .section = &kBackoffSection,
     .child = child<&RetryConfig::backoff>},
};
constexpr Section kRetrySection{
    .name = "retry", .where = "clusters[].retry, routes[].retry", .fields = kRetry};

// ---- retry budget, outlier detection, health checks ----
constexpr Field kRetryBudget[] = {
    {.name = "percent",
     .type = Type::kUint,
     .defaultText = "20",
     .min = 0,
     .max = 100,
     .doc = "Retries allowed as a percentage of the requests (cluster-wide, every worker's "
            "together, over 10 s).",
     .set = set<&RetryBudgetConfig::percent>},
    {.name = "min_retries_per_second",
     .type = Type::kUint,
     .defaultText = "3",
     .min = 0,
     .max = 100000,
     .doc = "Retries always allowed per second (cluster-wide, whatever the worker count), "
            "whatever the percentage. A failed connect (nothing sent) is not charged.",
     .set = set<&RetryBudgetConfig::minRetriesPerSecond>},
};
constexpr Section kRetryBudgetSection{
    .name = "retry_budget", .where = "clusters[].retry_budget", .fields = kRetryBudget};

constexpr Field kOutlier[] = {
    {.name = "consecutive_5xx",
     .type = Type::kUint,
     .defaultText = "5",
     .min = 0,
     .max = 100000,
     .doc = "5xx responses in a row (counted cluster-wide, whichever workers saw them) that "
            "eject an endpoint; 0: never for this.",
     .set = set<&OutlierDetectionConfig::consecutive5xx>},
    {.name = "consecutive_connect_failures",
     .type = Type::kUint,
     .defaultText = "5",
     .min = 0,
     .max = 100000,
     .doc = "Failed connects (refused, timed out, reset before a response) in a row (counted "
            "cluster-wide) that eject an endpoint; 0: never for this.",
     .set = set<&OutlierDetectionConfig::consecutiveConnectFailures>},
    {.name = "base_ejection_time",
     .type = Type::kDuration,
     .defaultText = "30s",
     .min = 1,
     .max = kDay,
     .doc = "An ejection lasts this long times the number of times the endpoint was ejected.",
     .set = set<&OutlierDetectionConfig::baseEjectionTime>},
    {.name = "max_ejection_percent",
     .type = Type::kUint,
     .defaultText = "10",
     .min = 0,
     .max = 100,
     .doc = "At most this share of the endpoints is ejected at once (but one always may be).",
     .set = set<&OutlierDetectionConfig::maxEjectionPercent>},
};
constexpr Section kOutlierSection{
    .name = "outlier_detection", .where = "clusters[].outlier_detection", .fields = kOutlier};

void validateHealthCheck(Reporter& r, void* obj) {
  auto& h = *static_cast<HealthCheckConfig*>(obj);
  // The default timeout never exceeds the interval the user wrote (a 500ms interval is valid).
  if (!r.has("timeout")) h.timeout = std::min(h.timeout, h.interval);
  if (h.timeout > h.interval) r.error("timeout", "the timeout is longer than the interval");
  if (h.type == HealthCheckType::kTcp && (r.has("path") || r.has("expect_status"))) {
    r.error(r.has("path") ? "path" : "expect_status", "applies to type: http only");
  }
}
constexpr const char* kHealthTypes[] = {"http", "tcp"};
constexpr Field kHealthCheck[] = {
    {.name = "type",
     .type = Type::kEnum,
     .defaultText = "http",
     .doc = "`http`: a GET of path must answer expect_status; `tcp`: a connect must succeed.",
     .choices = kHealthTypes,
     .set = set<&HealthCheckConfig::type>},
    {.name = "path",
     .type = Type::kString,
     .defaultText = "/",
     .doc = "The path checked (http).",
     .pattern = kPathPattern,
     .set = set<&HealthCheckConfig::path>},
    {.name = "host",
     .type = Type::kString,
     .doc = "The Host sent (http); absent: the endpoint's address.",
     .pattern = kHostPortPattern,
     .set = set<&HealthCheckConfig::host>},
    {.name = "expect_status",
     .type = Type::kUint,
     .min = 100,
     .max = 599,
     .doc = "The status a healthy endpoint answers (http); absent: any 2xx.",
     .set = set<&HealthCheckConfig::expectStatus>},
    {.name = "interval",
     .type = Type::kDuration,
     .defaultText = "5s",
     .min = 10,
     .max = kHour,
     .doc = "Time between two checks of an endpoint.",
     .set = set<&HealthCheckConfig::interval>},
    {.name = "timeout",
     .type = Type::kDuration,
     .defaultText = "1s",
     .min = 1,
     .max = kHour,
     .doc = "A check that takes longer fails; by default 1s, or the interval if that is shorter.",
     .set = set<&HealthCheckConfig::timeout>},
    {.name = "healthy_threshold",
     .type = Type::kUint,
     .defaultText = "2",
     .min = 1,
     .max = 1000,
     .doc = "Passed checks in a row that make an unhealthy endpoint healthy.",
     .set = set<&HealthCheckConfig::healthyThreshold>},
    {.name = "unhealthy_threshold",
     .type = Type::kUint,
     .defaultText = "3",
     .min = 1,
     .max = 1000,
     .doc = "Failed checks in a row that make a healthy endpoint unhealthy.",
     .set = set<&HealthCheckConfig::unhealthyThreshold>},
};
constexpr Section kHealthCheckSection{.name = "health_check",
                                      .where = "clusters[].health_check",
                                      .fields = kHealthCheck,
                                      .validate = validateHealthCheck};

constexpr Field kHeaderRules[] = {
    {.name = "add",
     .type = Type::kStringMap,
     .doc = "Header fields appended, `{name: value}`.",
     .pattern = kTokenPattern,
     .set = set<&HeaderRules::add>},
    {.name = "set",
     .type = Type::kStringMap,
     .doc = "Header fields replacing every existing value, `{name: value}`.",
     .pattern = kTokenPattern,
     .set = set<&HeaderRules::set>},
    {.name = "remove",
     .type = Type::kStringList,
     .doc = "Header field names removed.",
     .pattern = kTokenPattern,
     .set = set<&HeaderRules::remove>},
};
constexpr Section kHeaderRulesSection{.name = "header_rules",
                                      .where = "routes[].request_headers, response_headers",
                                      .fields = kHeaderRules};

constexpr Field kDirect[] = {
    {.name = "status",
     .type = Type::kUint,
     .min = 200,
     .max = 599,
     .doc = "Status code of the answer.",
     .flags = kRequired,
     .set = set<&DirectResponse::status>},
    {.name = "body",
     .type = Type::kString,
     .defaultText = "\"\"",
     .doc = "Body of the answer (text/plain).",
     .set = set<&DirectResponse::body>},
};
constexpr Section kDirectSection{
    .name = "direct_response", .where = "routes[].direct_response", .fields = kDirect};

constexpr const char* kRedirectCodes[] = {"301", "302", "303", "307", "308"};
constexpr Field kRedirect[] = {
    {.name = "to",
     .type = Type::kString,
     .doc = "The Location sent, e.g. https://example.com/new.",
     .flags = kRequired | kNonEmpty,
     .set = set<&Redirect::to>},
    {.name = "status",
     .type = Type::kUint,
     .defaultText = "302",
     .min = 301,
     .max = 308,
     .doc = "Redirect status code.",
     .choices = kRedirectCodes,
     .set = set<&Redirect::status>},
};
constexpr Section kRedirectSection{
    .name = "redirect", .where = "routes[].redirect", .fields = kRedirect};

// ---- route ----
void validateRoute(Reporter& r, void* obj) {
  auto& route = *static_cast<R*>(obj);
  const char* actions[] = {"cluster", "clusters", "direct_response", "redirect"};
  int n = 0;
  const char* second = nullptr;
  for (const char* a : actions) {
    if (r.has(a)) {
      if (++n == 2) second = a;
    }
  }
  if (n == 0) r.error("", "a route needs a cluster", "or clusters, direct_response or redirect");
  if (n > 1) {
    r.error(second, "a route has one of cluster, clusters, direct_response and redirect");
  }
  if (r.has("clusters")) {
    std::uint64_t total = 0;
    for (const WeightedCluster& w : route.clusters) total += w.weight;
    if (route.clusters.empty() || total == 0) {
      r.error("clusters", "the weights add up to 0: no cluster would get a request");
    }
  }
}
constexpr Field kRoute[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "Unique in its listener (metrics label); absent: generated from the cluster.",
     .pattern = kNamePattern,
     .set = set<&R::name>},
    {.name = "match",
     .type = Type::kObject,
     .doc = "Conditions that must all hold; absent: every request.",
     .section = &kMatchSection,
     .child = child<&R::match>},
    {.name = "cluster",
     .type = Type::kString,
     .doc = "The cluster that serves matching requests.",
     .pattern = kNamePattern,
     .set = set<&R::cluster>},
    {.name = "clusters",
     .type = Type::kObjectList,
     .doc = "A weighted split over several clusters (blue-green, canary).",
     .flags = kNonEmpty,
     .section = &kWeightedSection,
     .child = child<&R::clusters>},
    {.name = "direct_response",
     .type = Type::kObject,
     .doc = "ferry answers itself: `{status, body}`.",
     .section = &kDirectSection,
     .child = child<&R::directResponse>},
    {.name = "redirect",
     .type = Type::kObject,
     .doc = "ferry answers with a redirect: `{to, status}`.",
     .section = &kRedirectSection,
     .child = child<&R::redirect>},
    {.name = "timeout",
     .type = Type::kDuration,
     .defaultText = "off",
     .min = 1,
     .max = kDay,
     .doc = "Limit for the whole exchange (504 when it passes); `off`: none.",
     .flags = kOff,
     .set = set<&R::timeout>},
    {.name = "retry",
     .type = Type::kObject,
     .doc = "Retry policy for this route: `{retry_on, max_retries, per_try_timeout}`.",
     .section = &kRetrySection,
     .child = child<&R::retry>},
    {.name = "request_headers",
     .type = Type::kObject,
     .doc = "Rules applied to the request sent to the backend: `{add, set, remove}`.",
     .section = &kHeaderRulesSection,
     .child = child<&R::requestHeaders>},
    {.name = "response_headers",
     .type = Type::kObject,
     .doc = "Rules applied to the response sent to the client: `{add, set, remove}`.",
     .section = &kHeaderRulesSection,
     .child = child<&R::responseHeaders>},
    {.name = "allow_trace",
     .type = Type::kBool,
     .defaultText = "false",
     .doc = "Forward TRACE requests (otherwise answered 405).",
     .set = set<&R::allowTrace>},
};
constexpr Section kRouteSection{
    .name = "route",
    .where = "listeners[].routes[]",
    .fields = kRoute,
    .validate = validateRoute,
    .extraSchema =
        "\"oneOf\": [{\"required\": [\"cluster\"]}, {\"required\": [\"clusters\"]}, "
        "{\"required\": [\"direct_response\"]}, {\"required\": [\"redirect\"]}]"};

// ---- listener ----
void validateListener(Reporter& r, void* obj) {
  auto& l = *static_cast<L*>(obj);
  bool routes = r.has("routes"), st = r.has("static"), cluster = r.has("cluster");
  if (st) l.kind = ListenerKind::kStatic;
  if (l.protocol == ListenerProtocol::kTcp) {
    if (routes) r.error("routes", "a tcp listener has no routes", "it forwards bytes to cluster");
    if (st) r.error("static", "a tcp listener cannot serve static files");
    if (!cluster) r.error("", "a tcp listener needs a cluster");
    return;
  }
  if (cluster) {
    r.error("cluster", "cluster applies to protocol: tcp", "an http listener has routes");
  }
  if (routes && st) r.error("static", "a listener has either routes or static, not both");
  if (!routes && !st) {
    r.error("", "a listener needs routes (a proxy) or static (a file server)");
  }
}
constexpr const char* kProtocols[] = {"http", "tcp"};
constexpr Field kListener[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "Unique name (metrics label).",
     .flags = kRequired,
     .pattern = kNamePattern,
     .set = set<&L::name>},
    {.name = "address",
     .type = Type::kAddress,
     .doc = "IP:port to listen on; port 0 picks a free port.",
     .flags = kRequired,
     .set = set<&L::address>},
    {.name = "protocol",
     .type = Type::kEnum,
     .defaultText = "http",
     .doc = "`http` (routes or static) or `tcp` (raw bytes to `cluster`).",
     .choices = kProtocols,
     .set = set<&L::protocol>},
    {.name = "routes",
     .type = Type::kObjectList,
     .doc = "HTTP routes; the first that matches wins.",
     .flags = kNonEmpty,
     .section = &kRouteSection,
     .child = child<&L::routes>},
    {.name = "static",
     .type = Type::kObject,
     .doc = "Serve files instead of proxying: `{root: DIR}`.",
     .section = &kStaticSection,
     .child = [](void* o) { return o; }},
    {.name = "cluster",
     .type = Type::kString,
     .doc = "protocol tcp: the cluster that receives the connections.",
     .pattern = kNamePattern,
     .set = set<&L::cluster>},
    {.name = "request_header_timeout",
     .type = Type::kDuration,
     .defaultText = "10s",
     .min = 1,
     .max = kHour,
     .doc = "The whole request head must arrive in this time (408).",
     .set = set<&L::requestHeaderTimeout>},
    {.name = "idle_timeout",
     .type = Type::kDuration,
     .defaultText = "60s",
     .min = 1,
     .max = kDay,
     .doc = "A keep-alive connection waits this long for its next request.",
     .flags = kOff,
     .set = set<&L::idleTimeout>},
    {.name = "send_timeout",
     .type = Type::kDuration,
     .defaultText = "30s",
     .min = 1,
     .max = kDay,
     .doc = "A client that reads nothing for this long is cut off.",
     .flags = kOff,
     .set = set<&L::sendTimeout>},
    {.name = "request_body_timeout",
     .type = Type::kDuration,
     .defaultText = "30s",
     .min = 1,
     .max = kDay,
     .doc = "A client that sends no body byte for this long gets 408.",
     .flags = kOff,
     .set = set<&L::requestBodyTimeout>},
    {.name = "retry_after",
     .type = Type::kDuration,
     .defaultText = "1s",
     .min = 1000,
     .max = kDay,
     .doc = "Retry-After on the 503s ferry answers itself (overload, queue timeout, no healthy "
            "endpoint), in whole seconds; `off`: none.",
     .flags = kOff,
     .set = set<&L::retryAfter>},
    {.name = "tunnel_idle_timeout",
     .type = Type::kDuration,
     .defaultText = "1h",
     .min = 1,
     .max = 7 * kDay,
     .doc = "A WebSocket or TCP tunnel with no byte either way for this long is closed.",
     .flags = kOff,
     .set = set<&L::tunnelIdleTimeout>},
    {.name = "max_request_header_bytes",
     .type = Type::kSize,
     .defaultText = "16KiB",
     .min = kKiB,
     .max = 64 * kKiB,
     .doc = "Largest request head (431).",
     .set = set<&L::maxRequestHeaderBytes>},
    {.name = "max_request_body_bytes",
     .type = Type::kSize,
     .defaultText = "off",
     .min = 1,
     .max = UINT64_MAX,
     .doc = "Largest request body (413); `off`: unlimited.",
     .flags = kOff,
     .set = set<&L::maxRequestBodyBytes>},
    {.name = "max_request_target_bytes",
     .type = Type::kSize,
     .defaultText = "8KiB",
     .min = 256,
     .max = 64 * kKiB,
     .doc = "Longest request target (414).",
     .set = set<&L::maxRequestTargetBytes>},
    {.name = "max_request_headers",
     .type = Type::kUint,
     .defaultText = "100",
     .min = 1,
     .max = 100,
     .doc = "Most header fields in a request (431).",
     .set = set<&L::maxRequestHeaders>},
    {.name = "via",
     .type = Type::kString,
     .defaultText = "ferry",
     .doc = "Pseudonym ferry adds to Via on requests and responses; `off`: no Via.",
     .flags = kOff | kNonEmpty,
     .pattern = kTokenPattern,
     .set = set<&L::via>},
    {.name = "forwarding",
     .type = Type::kObject,
     .doc = "X-Forwarded-* and Forwarded headers, each `append`, `replace` or `off` (ferry "
            "writes none). A copy from a client outside trusted_proxies is dropped in every mode.",
     .section = &kForwardingSection,
     .child = child<&L::forwarding>},
    {.name = "trusted_proxies",
     .type = Type::kCidrList,
     .defaultText = "[]",
     .doc = "Clients (CIDR ranges) whose forwarding headers and X-Request-Id are kept.",
     .set = set<&L::trustedProxies>},
    {.name = "request_id",
     .type = Type::kBool,
     .defaultText = "true",
     .doc = "Keep a trusted X-Request-Id or generate one; passed on and logged.",
     .set = set<&L::requestId>},
    {.name = "error_pages",
     .type = Type::kStatusFile,
     .doc = "Bodies of ferry's own error answers, `{503: pages/503.html}` (relative to the "
            "config file).",
     .set = set<&L::errorPages>},
    {.name = "accept_proxy_protocol",
     .type = Type::kBool,
     .defaultText = "false",
     .doc = "Read a PROXY protocol v1/v2 header (from a trusted L4 balancer) first.",
     .set = set<&L::acceptProxyProtocol>},
    {.name = "proxy_protocol_timeout",
     .type = Type::kDuration,
     .defaultText = "5s",
     .min = 1,
     .max = kMinute,
     .doc = "The PROXY protocol header must arrive in this time.",
     .set = set<&L::proxyProtocolTimeout>},
    {.name = "backlog",
     .type = Type::kUint,
     .defaultText = "4096",
     .min = 1,
     .max = 65535,
     .doc = "Queue of connections not yet accepted (listen backlog).",
     .set = set<&L::backlog>},
};
constexpr Section kListenerSection{
    .name = "listener",
    .where = "listeners[]",
    .fields = kListener,
    .validate = validateListener,
    .extraSchema =
        "\"if\": {\"properties\": {\"protocol\": {\"const\": \"tcp\"}}, \"required\": "
        "[\"protocol\"]}, "
        "\"then\": {\"required\": [\"cluster\"], \"not\": {\"anyOf\": [{\"required\": "
        "[\"routes\"]}, "
        "{\"required\": [\"static\"]}]}}, "
        "\"else\": {\"oneOf\": [{\"required\": [\"routes\"]}, {\"required\": [\"static\"]}], "
        "\"not\": {\"required\": [\"cluster\"]}}"};

// ---- cluster ----
// The loader has parsed the text already (Type::kHostPort): this fills the model from it.
void setEndpointAddress(void* obj, const Value& v) {
  auto& e = *static_cast<EndpointConfig*>(obj);
  std::string why;
  if (std::optional<EndpointConfig> p = parseEndpoint(v.text, why)) {
    p->weight = e.weight;
    e = std::move(*p);
  }
}
constexpr Field kEndpoint[] = {
    {.name = "address",
     .type = Type::kHostPort,
     .doc = "HOST:PORT of the backend (a bare string item is this): an IP literal (`10.0.0.1`, "
            "`[::1]`) or a DNS name, resolved off the workers and connected by list (every "
            "address, RFC 8305 order).",
     .flags = kRequired,
     .set = setEndpointAddress},
    {.name = "weight",
     .type = Type::kUint,
     .defaultText = "1",
     .min = 1,
     .max = 10000,
     .doc = "Relative share for the weighted policies.",
     .set = set<&EndpointConfig::weight>},
};
constexpr Section kEndpointSection{
    .name = "endpoint", .where = "clusters[].endpoints[]", .fields = kEndpoint};

void validateHashOn(Reporter& r, void* obj) {
  auto& h = *static_cast<HashOn*>(obj);
  int n = 0;
  for (const char* k : {"source_ip", "path", "header", "cookie"}) n += int(r.has(k));
  if (n != 1) r.error("", "hash_on names one of source_ip, path, header and cookie");
  if (r.has("header")) h.kind = HashOn::Kind::kHeader;
  if (r.has("cookie")) h.kind = HashOn::Kind::kCookie;
}
constexpr Field kHashOn[] = {
    {.name = "source_ip",
     .type = Type::kBool,
     .doc = "Hash the client's address.",
     .choices = kTrue,
     .set = [](void* o, const Value&) { static_cast<HashOn*>(o)->kind = HashOn::Kind::kSourceIp; }},
    {.name = "path",
     .type = Type::kBool,
     .doc = "Hash the request path.",
     .choices = kTrue,
     .set = [](void* o, const Value&) { static_cast<HashOn*>(o)->kind = HashOn::Kind::kPath; }},
    {.name = "header",
     .type = Type::kString,
     .doc = "Hash the value of this request header.",
     .pattern = kTokenPattern,
     .set = set<&HashOn::name>},
    {.name = "cookie",
     .type = Type::kString,
     .doc = "Hash the value of this cookie (sticky sessions).",
     .pattern = kTokenPattern,
     .set = set<&HashOn::name>},
};
constexpr Section kHashOnSection{.name = "hash_on",
                                 .where = "clusters[].balance.hash_on",
                                 .fields = kHashOn,
                                 .validate = validateHashOn,
                                 .extraSchema = "\"minProperties\": 1, \"maxProperties\": 1"};

// In the order of BalancePolicy.
constexpr const char* kPolicies[] = {
    "round_robin", "weighted_round_robin", "least_request", "random", "ring_hash", "maglev"};
void validateBalance(Reporter& r, void* obj) {
  auto& b = *static_cast<BalanceConfig*>(obj);
  bool hashing = b.policy == BalancePolicy::kRingHash || b.policy == BalancePolicy::kMaglev;
  if (hashing && !r.has("hash_on")) r.error("policy", "ring_hash and maglev need hash_on");
  if (!hashing && r.has("hash_on")) {
    r.error("hash_on", "hash_on applies to ring_hash and maglev only");
  }
}
constexpr Field kBalance[] = {
    {.name = "policy",
     .type = Type::kEnum,
     .defaultText = "round_robin",
     .doc = "How an endpoint is picked.",
     .choices = kPolicies,
     .set = set<&BalanceConfig::policy>},
    {.name = "hash_on",
     .type = Type::kObject,
     .doc = "ring_hash, maglev: what is hashed, one of `{source_ip: true}`, `{path: true}`, "
            "`{header: NAME}`, `{cookie: NAME}`.",
     .section = &kHashOnSection,
     .child = child<&BalanceConfig::hashOn>},
    {.name = "slow_start",
     .type = Type::kDuration,
     .defaultText = "off",
     .min = 1,
     .max = kHour,
     .doc = "A new or recovered endpoint's weight ramps up over this time.",
     .flags = kOff,
     .set = set<&BalanceConfig::slowStart>},
};
constexpr Section kBalanceSection{
    .name = "balance",
    .where = "clusters[].balance",
    .fields = kBalance,
    .validate = validateBalance,
    .extraSchema =
        "\"if\": {\"properties\": {\"policy\": {\"enum\": [\"ring_hash\", \"maglev\"]}}, "
        "\"required\": [\"policy\"]}, \"then\": {\"required\": [\"hash_on\"]}, "
        "\"else\": {\"not\": {\"required\": [\"hash_on\"]}}"};

void validateCluster(Reporter& r, void* obj) {
  auto& c = *static_cast<C*>(obj);
  // An endpoint's name is its identity (pool, metrics label, /clusters): one per cluster.
  for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (!c.endpoints[i].address.empty() && c.endpoints[i].address == c.endpoints[k].address) {
        r.error("endpoints", "endpoint '" + c.endpoints[i].address + "' is listed twice",
                "give it a weight instead");
      }
    }
  }
}

// ---- dns_refresh ----
void validateDnsRefresh(Reporter& r, void* obj) {
  auto& d = *static_cast<DnsRefreshConfig*>(obj);
  if (d.min > d.max) r.error("min", "dns_refresh min is above its max");
}
constexpr Field kDnsRefresh[] = {
    {.name = "min",
     .type = Type::kDuration,
     .defaultText = "5s",
     .min = 100,
     .max = kDay,
     .doc = "The shortest time a name's answer is used (a smaller TTL counts as this); a name "
            "that fails to resolve is retried after it, then after twice as long, up to max.",
     .set = set<&DnsRefreshConfig::min>},
    {.name = "max",
     .type = Type::kDuration,
     .defaultText = "300s",
     .min = 100,
     .max = kDay,
     .doc = "The longest time a name's answer is used (a larger TTL counts as this).",
     .set = set<&DnsRefreshConfig::max>},
};
constexpr Section kDnsRefreshSection{.name = "dns_refresh",
                                     .where = "clusters[].dns_refresh",
                                     .fields = kDnsRefresh,
                                     .validate = validateDnsRefresh};

// ---- resolver ----
std::string checkNameservers(std::string_view s) {
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    std::string_view one =
        s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    std::string text(one);
    bool ok = io::Address::parse(text).has_value();  // IP:port, [v6]:port
    if (!ok && text.find(':') == std::string::npos)
      ok = io::Address::parse(text + ":53").has_value();
    if (!ok && text.find(':') != std::string::npos && text.front() != '[') {
      ok = io::Address::parse("[" + text + "]:53").has_value();  // a bare IPv6 address
    }
    if (!ok || text == "localhost" || text.rfind("localhost:", 0) == 0) {
      return "'" + text + "' is not a name server: write IP, IP:port or [IPv6]:port";
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}
constexpr Field kResolver[] = {
    {.name = "nameservers",
     .type = Type::kString,
     .doc = "DNS servers for endpoint names, comma-separated `IP`, `IP:port` or `[IPv6]:port`; "
            "absent: the system's (/etc/resolv.conf, or Windows' settings). The hosts file is "
            "read first either way.",
     .flags = kNonEmpty,
     .check = checkNameservers,
     .set = set<&ResolverConfig::nameservers>},
};
constexpr Section kResolverSection{.name = "resolver", .where = "resolver", .fields = kResolver};
constexpr const char* kProxyProtocols[] = {"off", "v1", "v2"};
constexpr Field kCluster[] = {
    {.name = "name",
     .type = Type::kString,
     .doc = "Unique name (routes refer to it; metrics label).",
     .flags = kRequired,
     .pattern = kNamePattern,
     .set = set<&C::name>},
    {.name = "endpoints",
     .type = Type::kObjectList,
     .doc = "Backends: `HOST:PORT` (an IP literal or a DNS name), or `{address, weight}`.",
     .flags = kRequired | kNonEmpty | kScalarItem,
     .section = &kEndpointSection,
     .child = child<&C::endpoints>},
    {.name = "dns_refresh",
     .type = Type::kObject,
     .doc = "For endpoints that are DNS names: `{min, max}` bounds on how long an answer is "
            "used (its TTL, clamped); a name that stops resolving keeps its last addresses.",
     .section = &kDnsRefreshSection,
     .child = child<&C::dnsRefresh>},
    {.name = "balance",
     .type = Type::kObject,
     .doc = "Load balancing: `{policy, hash_on, slow_start}`.",
     .section = &kBalanceSection,
     .child = child<&C::balance>},
    {.name = "connect_timeout",
     .type = Type::kDuration,
     .defaultText = "2s",
     .min = 1,
     .max = kMinute * 10,
     .doc = "Limit for connecting to an endpoint (504 when all fail this way).",
     .set = set<&C::connectTimeout>},
    {.name = "response_timeout",
     .type = Type::kDuration,
     .defaultText = "30s",
     .min = 1,
     .max = kDay,
     .doc = "Longest silence from the backend while a response is awaited (504).",
     .flags = kOff,
     .set = set<&C::responseTimeout>},
    {.name = "max_idle_per_worker",
     .type = Type::kUint,
     .defaultText = "64",
     .min = 0,
     .max = 100000,
     .doc = "Idle keep-alive connections kept per endpoint and worker.",
     .set = set<&C::maxIdlePerWorker>},
    {.name = "idle_timeout",
     .type = Type::kDuration,
     .defaultText = "60s",
     .min = 1,
     .max = kDay,
     .doc = "Idle pooled connections older than this are closed.",
     .flags = kOff,
     .set = set<&C::idleTimeout>},
    {.name = "max_connections",
     .type = Type::kUint,
     .defaultText = "0",
     .min = 0,
     .max = 1000000,
     .doc = "Open connections per endpoint (every worker's together); a request over it waits "
            "in the queue (max_pending_requests, queue_timeout). 0: no limit.",
     .set = set<&C::maxConnections>},
    {.name = "min_idle",
     .type = Type::kUint,
     .defaultText = "0",
     .min = 0,
     .max = 100000,
     .doc = "Idle connections per endpoint and worker opened ahead of demand and kept warm "
            "(at most max_idle_per_worker).",
     .set = set<&C::minIdle>},
    {.name = "max_requests_per_connection",
     .type = Type::kUint,
     .defaultText = "0",
     .min = 0,
     .max = 1000000000,
     .doc = "An upstream connection closes after this many requests. 0: no limit.",
     .set = set<&C::maxRequestsPerConnection>},
    {.name = "max_connection_lifetime",
     .type = Type::kDuration,
     .defaultText = "off",
     .min = 1,
     .max = 30 * kDay,
     .doc = "An upstream connection closes once this old (after its request in flight).",
     .flags = kOff,
     .set = set<&C::maxConnectionLifetime>},
    {.name = "max_active_requests",
     .type = Type::kUint,
     .defaultText = "0",
     .min = 0,
     .max = 10000000,
     .doc = "Requests in flight (cluster-wide, every worker's together); over it a request "
            "gets 503 at once. 0: no limit.",
     .set = set<&C::maxActiveRequests>},
    {.name = "max_pending_requests",
     .type = Type::kUint,
     .defaultText = "1024",
     .min = 0,
     .max = 10000000,
     .doc = "Requests waiting for a connection (cluster-wide; max_connections reached); over "
            "it a request gets 503 at once. 0: no queue.",
     .set = set<&C::maxPendingRequests>},
    {.name = "queue_timeout",
     .type = Type::kDuration,
     .defaultText = "5s",
     .min = 1,
     .max = kHour,
     .doc = "The longest a request waits for a connection; then 503.",
     .set = set<&C::queueTimeout>},
    {.name = "host_rewrite",
     .type = Type::kString,
     .doc = "Host sent to the backends; absent: the client's Host.",
     .pattern = kHostPortPattern,
     .set = set<&C::hostRewrite>},
    {.name = "proxy_protocol",
     .type = Type::kEnum,
     .defaultText = "off",
     .doc = "Send the client's addresses to the backends in a PROXY protocol header.",
     .choices = kProxyProtocols,
     .set = set<&C::proxyProtocol>},
    {.name = "retry",
     .type = Type::kObject,
     .doc = "Retry policy of routes to this cluster (a route's own `retry` replaces it): "
            "`{retry_on, max_retries, per_try_timeout, backoff}`.",
     .section = &kRetrySection,
     .child = child<&C::retry>},
    {.name = "retry_budget",
     .type = Type::kObject,
     .doc = "Caps retries so a failing cluster is not hammered: `{percent, "
            "min_retries_per_second}`.",
     .section = &kRetryBudgetSection,
     .child = child<&C::retryBudget>},
    {.name = "outlier_detection",
     .type = Type::kObject,
     .doc = "Passive health: eject endpoints that fail in a row, counted cluster-wide: "
            "`{consecutive_5xx, consecutive_connect_failures, base_ejection_time, "
            "max_ejection_percent}`.",
     .section = &kOutlierSection,
     .child = child<&C::outlierDetection>},
    {.name = "health_check",
     .type = Type::kObject,
     .doc = "Active health checks: `{type, path, host, expect_status, interval, timeout, "
            "healthy_threshold, unhealthy_threshold}`. Each endpoint's first check runs before "
            "it takes traffic (at start and when a reload adds it); health survives reloads.",
     .section = &kHealthCheckSection,
     .child = child<&C::healthCheck>},
    {.name = "healthy_panic_threshold",
     .type = Type::kUint,
     .defaultText = "50",
     .min = 0,
     .max = 100,
     .doc = "Below this percentage of healthy endpoints, health is ignored and every endpoint "
            "is used; 0: never.",
     .set = set<&C::healthyPanicThreshold>},
};
constexpr Section kClusterSection{
    .name = "cluster", .where = "clusters[]", .fields = kCluster, .validate = validateCluster};

// ---- access_log ----
std::string checkAccessFormat(std::string_view s) {
  std::string error;
  return log::AccessFormat::parse(s, error) ? std::string() : error;
}
constexpr Field kAccessLog[] = {
    {.name = "enabled",
     .type = Type::kBool,
     .defaultText = "true",
     .doc = "Write one line per request (`access_log: false` is short for `{enabled: false}`).",
     .set = set<&AccessLogConfig::enabled>},
    {.name = "format",
     .type = Type::kString,
     .defaultText = "ferry",
     .doc = "`ferry` (time, client, request line, status, bytes, duration, route, upstream, "
            "cause, retries, reused, request id), `combined` (NGINX/Apache), `json` (one object "
            "per line), or a template of %FIELD% names: %TIME% %CLIENT_ADDRESS% %CLIENT_PORT% "
            "%METHOD% %TARGET% %PROTOCOL% %STATUS% %BYTES_IN% %BYTES_OUT% %DURATION_US% "
            "%UPSTREAM% %UPSTREAM_TIME_US% %CAUSE% %RETRIES% %REUSED% %REQUEST_ID% %ROUTE% "
            "%CLUSTER% %LISTENER% %USER_AGENT% %REFERER% (%% is a percent sign).",
     .flags = kNonEmpty,
     .check = checkAccessFormat,
     .set = set<&AccessLogConfig::format>},
    {.name = "path",
     .type = Type::kString,
     .defaultText = "stdout",
     .doc = "`stdout`, or a file appended to (relative to the config file's directory; its "
            "directory must exist and be writable); reopened on SIGUSR1 and POST /reopen "
            "(logrotate).",
     .flags = kNonEmpty,
     .set = set<&AccessLogConfig::path>},
};
constexpr Section kAccessLogSection{
    .name = "access_log", .where = "access_log", .fields = kAccessLog};

// ---- root ----
constexpr const char* kIo[] = {"auto", "io_uring", "epoll"};
constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
constexpr Field kRoot[] = {
    {.name = "workers",
     .type = Type::kUint,
     .defaultText = "auto",
     .min = 1,
     .max = 1024,
     .doc = "Worker threads; `auto`: one per core.",
     .flags = kAuto,
     .set = set<&Config::workers>},
    {.name = "io",
     .type = Type::kEnum,
     .defaultText = "auto",
     .doc = "I/O backend on Linux: `auto` (io_uring, else epoll), `io_uring`, `epoll`.",
     .choices = kIo,
     .set = set<&Config::io>},
    {.name = "log_level",
     .type = Type::kEnum,
     .defaultText = "info",
     .doc = "Least severe level logged.",
     .choices = kLevels,
     .set = set<&Config::logLevel>},
    {.name = "access_log",
     .type = Type::kObject,
     .doc = "One log line per request: `true`, `false`, or `{enabled, format, path}`.",
     .flags = kScalarItem,
     .section = &kAccessLogSection,
     .child = child<&Config::accessLog>},
    {.name = "drain_delay",
     .type = Type::kDuration,
     .defaultText = "off",
     .min = 1,
     .max = 10 * kMinute,
     .doc = "On stop, /ready answers 503 this long before listeners stop accepting (so a load "
            "balancer polling /ready stops sending first).",
     .flags = kOff,
     .set = set<&Config::drainDelay>},
    {.name = "drain_timeout",
     .type = Type::kDuration,
     .defaultText = "30s",
     .min = 1,
     .max = kDay,
     .doc = "On stop, requests in flight get this long to finish; then ferry exits.",
     .set = set<&Config::drainTimeout>},
    {.name = "watch",
     .type = Type::kBool,
     .defaultText = "false",
     .doc = "Reload when the config file changes (inotify on Linux, ReadDirectoryChangesW on "
            "Windows; after 300 ms without a change). SIGHUP and POST /reload on the admin "
            "listener reload too.",
     .set = set<&Config::watch>},
    {.name = "max_connections",
     .type = Type::kUint,
     .defaultText = "auto",
     .min = 1,
     .max = 10000000,
     .doc = "Client connections of the whole process (every listener and worker), as HAProxy's "
            "global maxconn: over it ferry stops accepting and the kernel's backlog holds new "
            "clients until one closes. `auto`, and the cap on any value: half the file "
            "descriptors (RLIMIT_NOFILE) left after a reserve, so each client keeps one for its "
            "upstream connection (a sixth with `protocol: tcp` listeners on Linux, whose spliced "
            "tunnels hold two pipes). Out of descriptors all the same, accepting pauses (until a "
            "connection closes, 100 ms to 1 s) instead of retrying at once.",
     .flags = kAuto,
     .set = set<&Config::maxConnections>},
    {.name = "admin",
     .type = Type::kObject,
     .doc = "The admin listener: `{address, enabled, control}`.",
     .section = &kAdminSection,
     .child = child<&Config::admin>},
    {.name = "resolver",
     .type = Type::kObject,
     .doc = "The DNS resolver for endpoint names (c-ares, on its own thread, started only when "
            "some endpoint is a name): `{nameservers}`.",
     .section = &kResolverSection,
     .child = child<&Config::resolver>},
    {.name = "listeners",
     .type = Type::kObjectList,
     .doc = "Where clients connect.",
     .flags = kRequired | kNonEmpty,
     .section = &kListenerSection,
     .child = child<&Config::listeners>},
    {.name = "clusters",
     .type = Type::kObjectList,
     .doc = "Groups of backends that routes send to.",
     .section = &kClusterSection,
     .child = child<&Config::clusters>},
};
constexpr Section kRootSection{.name = "ferry", .where = "", .fields = kRoot};

constexpr const Section* kSections[] = {
    &kRootSection,        &kAdminSection,        &kAccessLogSection,   &kResolverSection,
    &kListenerSection,    &kForwardingSection,   &kStaticSection,      &kRouteSection,
    &kMatchSection,       &kHeaderMatchSection,  &kQueryMatchSection,  &kWeightedSection,
    &kRetrySection,       &kHeaderRulesSection,  &kDirectSection,      &kRedirectSection,
    &kClusterSection,     &kEndpointSection,     &kDnsRefreshSection,  &kBalanceSection,
    &kHashOnSection,      &kBackoffSection,      &kRetryBudgetSection, &kOutlierSection,
    &kHealthCheckSection, &kAdminControlSection,
};

// Digits then a unit from units; the value times the unit's factor, checked for overflow.
struct Unit {
  std::string_view name;
  std::uint64_t factor;
};
std::string parseWithUnits(std::string_view s, std::span<const Unit> units, bool bareOk,
                           const char* what, std::uint64_t& out) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (p == s.data()) return std::string("must be ") + what;
  if (ec == std::errc::result_out_of_range) return "is too large (overflows 64 bits)";
  std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  if (unit.empty()) {
    if (bareOk) {
      out = v;
      return {};
    }
    return std::string("needs a unit: ") + what;
  }
  for (const Unit& u : units) {
    if (u.name != unit) continue;
    if (v > UINT64_MAX / u.factor) return "is too large (overflows 64 bits)";
    out = v * u.factor;
    return {};
  }
  return "has an unknown unit '" + std::string(unit) + "': " + what;
}

}  // namespace

std::string describePattern(const char* pattern) {
  std::string_view p(pattern);
  if (p == kNamePattern) return "may contain only letters, digits, '.', '_' and '-'";
  if (p == kHostPattern) return "must be a host name, or *.domain for its subdomains";
  if (p == kHostPortPattern) return "must be a host name or host:port";
  if (p == kPathPattern) return "must start with '/' (and contain no space)";
  if (p == kMethodPattern) return "must be an upper-case method such as GET";
  if (p == kTokenPattern) return "must be a token: letters, digits and !#$%&'*+.^_`|~-";
  return "must match " + std::string(p);
}

const Section& root() {
  return kRootSection;
}
std::span<const Section* const> sections() {
  return kSections;
}

std::string parseDurationMs(std::string_view s, std::uint64_t& ms) {
  static constexpr Unit kUnits[] = {{"ms", 1}, {"s", kSecond}, {"m", kMinute}, {"h", kHour}};
  std::string e = parseWithUnits(s, kUnits, false, "a duration such as 250ms, 5s, 1m or 1h", ms);
  // Durations are nanoseconds inside: beyond ~292 years they overflow.
  if (e.empty() && ms > static_cast<std::uint64_t>(INT64_MAX / 1000000)) {
    return "is too large (overflows 64 bits)";
  }
  return e;
}

std::string parseSize(std::string_view s, std::uint64_t& bytes) {
  static constexpr Unit kUnits[] = {{"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}};
  return parseWithUnits(s, kUnits, true, "a size such as 65536, 64KiB or 1MiB", bytes);
}

std::string formatDurationMs(std::uint64_t ms) {
  if (ms != 0 && ms % kHour == 0) return std::to_string(ms / kHour) + "h";
  if (ms != 0 && ms % kMinute == 0) return std::to_string(ms / kMinute) + "m";
  if (ms != 0 && ms % kSecond == 0) return std::to_string(ms / kSecond) + "s";
  return std::to_string(ms) + "ms";
}

std::string formatSize(std::uint64_t bytes) {
  if (bytes == UINT64_MAX) return "2^64-1";
  if (bytes != 0 && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "GiB";
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "MiB";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "KiB";
  return std::to_string(bytes);
}

}  // namespace ferry::config::keys
