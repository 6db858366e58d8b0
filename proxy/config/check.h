#pragma once
// Checks across the whole config (internal to proxy/config): what no one key's table entry can
// see. Names defined twice, references to clusters that do not exist, addresses that clash (two
// listeners, or a listener and the admin listener), routes that can never match, an access log
// file that cannot be appended to. The loader (loader.cpp) runs crossCheck once every key is
// read; the functions below it are the pure rules, also used by the loader's messages.

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace ferry::config::check {

// Where the checks report: the loader, which knows the file and the positions in it.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Location at(const YAML::Node& n) const = 0;
  // A problem at n's position; path is the key ("listeners[0].address").
  virtual void error(const YAML::Node& n, const std::string& path, std::string message,
                     std::string hint) = 0;
  // A path from the config resolved against the config file's directory.
  virtual std::string resolve(std::string_view path) const = 0;
};

// Runs every cross-check on cfg (read from root), reporting to s. Gives unnamed routes their
// generated names, places each route (RouteConfig::where) and resolves access_log.path against
// the config's directory. Route shadowing is judged only when wellFormed (no key failed to load:
// a key that failed would make a route look wider than written).
void crossCheck(Sink& s, const YAML::Node& root, Config& cfg, bool wellFormed);

// True if every request that route b matches is matched by route a (so b, after a, never
// matches). Never true where that is not certain: a regex is compared as text.
bool covers(const RouteConfig& a, const RouteConfig& b);

// True if a and b cannot both be listened on: the same port and the same address, or a wildcard
// address (0.0.0.0, ::) and any address of its family on that port; [::] also takes IPv4 where
// IPv6 sockets are dual-stack (Linux's default; on Windows they are IPv6 only). Port 0 (the
// system picks) never clashes.
bool clash(const io::Address& a, const io::Address& b);

// Empty if a file at path can be opened for appending (it is a writable file, or it does not
// exist and its directory does and is writable); else why not ("directory '/x' does not exist").
std::string appendable(const std::string& path);

// "did you mean 'x'?" for the choice nearest to word, else otherwise followed by every choice.
std::string didYouMean(const std::string& word, const std::vector<std::string>& choices,
                       const char* otherwise);
// The choice nearest to word (a small edit distance, or the one choice it begins), or empty.
std::string closest(const std::string& word, const std::vector<std::string>& choices);
// "a, b, c".
std::string join(const std::vector<std::string>& v);

// Key paths in messages: child("a", "b") is "a.b"; item("a", 2) is "a[2]".
inline std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string item(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

}  // namespace ferry::config::check
