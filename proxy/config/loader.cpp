// YAML -> Config. yaml-cpp is used only in this folder. The loader walks the document once along
// the key table (keys.cpp), collecting every problem with its position and the key's path, then
// cross-checks names, references, addresses and routes (check.cpp).

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "proxy/config/check.h"
#include "proxy/config/config.h"
#include "proxy/config/keys.h"

namespace ferry::config {

std::string ConfigError::format() const {
  std::string s =
      where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": ";
  if (!path.empty()) s += path + ": ";
  s += message;
  if (!hint.empty()) s += " (" + hint + ")";
  return s;
}

const ClusterConfig* Config::findCluster(const std::string& name) const {
  for (const ClusterConfig& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const ListenerConfig* Config::findListener(const std::string& name) const {
  for (const ListenerConfig& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

bool isLoopback(const io::Address& a) {
  if (!a.valid()) return false;
  std::string h = a.host();
  return h.starts_with("127.") || h == "::1" || h.starts_with("::ffff:127.");
}

namespace {

using keys::Field;
using keys::Section;
using keys::Type;
using keys::Value;

using check::child;
using check::closest;
using check::didYouMean;
using check::item;
using check::join;

// What YAML 1.2 (the core schema, as editors read the file) resolves a plain scalar to.
bool plainNonString(const YAML::Node& n) {
  if (n.Tag() != "?") return false;  // quoted: a string
  static const RE2 kNumber(
      "[-+]?([0-9]+|0x[0-9a-fA-F]+|0o[0-7]+|(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)"
      "([eE][-+]?[0-9]+)?|\\.inf|\\.Inf|\\.INF|\\.nan|\\.NaN|\\.NAN)");
  static const RE2 kOther("true|True|TRUE|false|False|FALSE|null|Null|NULL|~");
  return RE2::FullMatch(n.Scalar(), kNumber) || RE2::FullMatch(n.Scalar(), kOther);
}

class Loader final : public check::Sink {
 public:
  Loader(std::string file, std::string baseDir)
      : file_(std::move(file)), base_(std::move(baseDir)) {}

  std::vector<ConfigError> errors;

  Location at(const YAML::Node& n) const override {
    YAML::Mark m = n.Mark();
    // An empty document has no position: its first character then.
    return Location{file_, std::max(m.line + 1, 1), std::max(m.column + 1, 1)};
  }
  void error(const YAML::Node& n, const std::string& path, std::string msg) {
    error(n, path, std::move(msg), std::string());
  }
  void error(const YAML::Node& n, const std::string& path, std::string msg,
             std::string hint) override {
    errors.push_back(ConfigError{at(n), path, std::move(msg), std::move(hint)});
  }
  std::string resolve(std::string_view p) const override {
    std::filesystem::path fp{std::string(p)};
    if (fp.is_relative()) fp = std::filesystem::path(base_) / fp;
    return fp.lexically_normal().generic_string();  // "/" on every system
  }

  // Reads the mapping n into obj along section s.
  void readSection(const YAML::Node& n, const Section& s, void* obj, const std::string& path);

 private:
  class SectionReporter;

  bool scalar(const YAML::Node& n, const std::string& path, const char* what) {
    if (n.IsScalar()) return true;
    error(n, path, std::string("must be ") + what);
    return false;
  }
  // A string value: plain scalars that YAML reads as numbers, booleans or null are not strings.
  bool string(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n.IsScalar() || plainNonString(n)) {
      error(n, path, "must be a string",
            n.IsScalar() ? "quote it: \"" + n.Scalar() + "\"" : std::string());
      return false;
    }
    out = n.Scalar();
    return true;
  }
  bool checkString(const YAML::Node& n, const std::string& path, const Field& f,
                   const std::string& s) {
    if ((f.flags & keys::kNonEmpty) && s.empty()) {
      error(n, path, "must not be empty");
      return false;
    }
    if (!f.choices.empty()) {
      std::vector<std::string> cs(f.choices.begin(), f.choices.end());
      if (std::find(cs.begin(), cs.end(), s) == cs.end()) {
        error(n, path, "must be one of " + join(cs), closestHint(s, cs));
        return false;
      }
    }
    if (f.pattern != nullptr) {
      // The schema's patterns are anchored; RE2's FullMatch is too.
      std::string p(f.pattern);
      RE2 re(p.substr(1, p.size() - 2));
      if (!RE2::FullMatch(s, re)) {
        error(n, path, "'" + s + "' " + keys::describePattern(f.pattern));
        return false;
      }
    }
    if (f.check != nullptr) {
      std::string e = f.check(s);
      if (!e.empty()) {
        error(n, path, e);
        return false;
      }
    }
    return true;
  }
  static std::string closestHint(const std::string& s, const std::vector<std::string>& cs) {
    std::string near = closest(s, cs);
    return near.empty() ? std::string() : "did you mean '" + near + "'?";
  }

  bool number(const YAML::Node& n, const std::string& path, const Field& f, Value& v) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "?" && (f.flags & keys::kAuto) && s == "auto") {
      v.number = 0;
      return true;
    }
    std::uint64_t x = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (n.Tag() != "?" || s.empty() || p != s.data() + s.size() ||
        (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      error(n, path,
            (f.flags & keys::kAuto) ? "must be a whole number or auto" : "must be a whole number");
      return false;
    }
    if (!f.choices.empty()) {
      std::vector<std::string> cs(f.choices.begin(), f.choices.end());
      if (ec != std::errc() || std::find(cs.begin(), cs.end(), std::to_string(x)) == cs.end()) {
        error(n, path, "must be one of " + join(cs));
        return false;
      }
    } else if (ec != std::errc() || x < f.min || x > f.max) {
      error(n, path, "must be between " + std::to_string(f.min) + " and " + std::to_string(f.max));
      return false;
    }
    v.number = x;
    return true;
  }

  // Durations and sizes: units, `off` where allowed, zero refused, range.
  bool measure(const YAML::Node& n, const std::string& path, const Field& f, Value& v) {
    bool duration = f.type == Type::kDuration;
    const std::string& s = n.Scalar();
    bool off = f.flags & keys::kOff;
    if (s == "off" && n.Tag() == "?") {
      if (off) {
        v.number = 0;
        v.duration = Duration{0};
        return true;
      }
      error(n, path, "cannot be off here");
      return false;
    }
    if (!duration && n.Tag() != "?" && !s.empty() &&
        s.find_first_not_of("0123456789") == std::string::npos) {
      // "65536" quoted is a string to an editor, and only sizes with a unit are strings.
      error(n, path, "must be a number or a size with a unit", "unquote it: " + s);
      return false;
    }
    std::uint64_t x = 0;
    std::string e = duration ? keys::parseDurationMs(s, x) : keys::parseSize(s, x);
    if (!e.empty()) {
      error(n, path, "'" + s + "' " + e);
      return false;
    }
    auto fmt = [&](std::uint64_t q) {
      return duration ? keys::formatDurationMs(q) : keys::formatSize(q);
    };
    if (x == 0) {
      if (off) {
        error(n, path,
              "0 is not a valid " + std::string(duration ? "duration" : "size") +
                  " here: use `off` to disable it");
      } else {
        error(n, path, "must be greater than 0");
      }
      return false;
    }
    if (x < f.min || x > f.max) {
      if (f.max == UINT64_MAX) {
        error(n, path, "must be at least " + fmt(f.min));
      } else if (f.min <= 1) {
        error(n, path, "must be at most " + fmt(f.max));
      } else {
        error(n, path, "must be between " + fmt(f.min) + " and " + fmt(f.max));
      }
      return false;
    }
    v.number = x;
    v.duration = duration ? Duration(std::chrono::milliseconds(x)) : Duration{0};
    return true;
  }

  // Reads one key's value; returns whether it was valid (then set has been called).
  void readField(const YAML::Node& n, const Field& f, void* obj, const std::string& path) {
    Value v;
    bool ok = false;
    switch (f.type) {
      case Type::kString:
        if (n.IsScalar() && n.Tag() == "?" && n.Scalar() == "off" && (f.flags & keys::kOff)) {
          v.text.clear();
          ok = true;
        } else {
          ok = string(n, path, v.text) && checkString(n, path, f, v.text);
        }
        break;
      case Type::kBool:
        if (n.IsScalar() && n.Tag() == "?" && (n.Scalar() == "true" || n.Scalar() == "false")) {
          v.flag = n.Scalar() == "true";
          ok = true;
          if (!f.choices.empty() && !v.flag) {
            error(n, path, "can only be true (leave it out instead)");
            ok = false;
          }
        } else {
          const std::string s = n.IsScalar() ? n.Scalar() : std::string();
          bool yaml11 = s == "yes" || s == "no" || s == "on" || s == "off" || s == "y" || s == "n";
          error(n, path, "must be true or false",
                yaml11 ? "YAML 1.2 reads '" + s + "' as a string" : std::string());
        }
        break;
      case Type::kUint:
        ok = scalar(n, path, "a whole number") && number(n, path, f, v);
        break;
      case Type::kDuration:
      case Type::kSize:
        ok = scalar(n, path, f.type == Type::kDuration ? "a duration" : "a size") &&
             measure(n, path, f, v);
        break;
      case Type::kEnum: {
        std::vector<std::string> cs(f.choices.begin(), f.choices.end());
        if (!n.IsScalar()) {
          error(n, path, "must be one of " + join(cs));
          break;
        }
        auto it = std::find(cs.begin(), cs.end(), n.Scalar());
        if (it == cs.end() || n.Tag() != "?") {
          error(n, path, "must be one of " + join(cs), closestHint(n.Scalar(), cs));
          break;
        }
        v.text = *it;
        v.number = static_cast<std::uint64_t>(it - cs.begin());
        ok = true;
        break;
      }
      case Type::kAddress:
        if (string(n, path, v.text)) {
          ok = io::Address::parse(v.text).has_value();
          if (!ok) {
            error(n, path, "'" + v.text + "' is not an address",
                  "write ip:port, e.g. 127.0.0.1:8080 or [::1]:8080");
          }
        }
        break;
      case Type::kHostPort:
        if (string(n, path, v.text)) {
          std::string why;
          ok = parseEndpoint(v.text, why).has_value();
          if (!ok) {
            error(n, path, "'" + v.text + "' " + why,
                  "write host:port, e.g. 10.0.0.1:8080, [::1]:8080 or backend.internal:8080");
          }
        }
        break;
      case Type::kStringList:
        if (!n.IsSequence()) {
          error(n, path, "must be a list");
          break;
        }
        ok = true;
        for (std::size_t i = 0; i < n.size(); ++i) {
          std::string s;
          // Items from a fixed set (retry_on: [5xx, 503]) may be plain numbers.
          bool isString = !f.choices.empty() && n[i].IsScalar() ? (s = n[i].Scalar(), true)
                                                                : string(n[i], item(path, i), s);
          if (isString && checkString(n[i], item(path, i), f, s)) {
            v.list.push_back(s);
          } else {
            ok = false;
          }
        }
        if (ok && (f.flags & keys::kNonEmpty) && v.list.empty()) {
          error(n, path, "must not be empty");
          ok = false;
        }
        break;
      case Type::kStringMap:
        if (!n.IsMap()) {
          error(n, path, "must be a mapping of name: value");
          break;
        }
        ok = true;
        for (const auto& kv : n) {
          std::string k, val;
          std::string kp = child(path, kv.first.Scalar());
          if (!string(kv.first, kp, k) || !checkString(kv.first, kp, f, k) ||
              !string(kv.second, kp, val)) {
            ok = false;
            continue;
          }
          v.map.emplace_back(k, val);
        }
        break;
      case Type::kCidrList:
        if (!n.IsSequence()) {
          error(n, path, "must be a list of address ranges such as 10.0.0.0/8");
          break;
        }
        ok = true;
        for (std::size_t i = 0; i < n.size(); ++i) {
          std::string s, e;
          if (!string(n[i], item(path, i), s)) {
            ok = false;
            continue;
          }
          std::optional<Cidr> c = Cidr::parse(s, e);
          if (!c) {
            error(n[i], item(path, i), "'" + s + "' " + e);
            ok = false;
            continue;
          }
          v.cidrs.push_back(*c);
        }
        break;
      case Type::kStatusFile:
        if (!n.IsMap()) {
          error(n, path, "must be a mapping of status: file");
          break;
        }
        ok = true;
        for (const auto& kv : n) {
          const std::string& k = kv.first.Scalar();
          std::string kp = child(path, k);
          int status = 0;
          auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), status);
          if (!kv.first.IsScalar() || ec != std::errc() || p != k.data() + k.size() ||
              status < 400 || status > 599) {
            error(kv.first, kp, "must be an HTTP status from 400 to 599");
            ok = false;
            continue;
          }
          std::string file;
          if (!string(kv.second, kp, file)) {
            ok = false;
            continue;
          }
          std::string full = resolve(file);
          std::error_code fe;
          if (!std::filesystem::is_regular_file(full, fe)) {
            error(kv.second, kp, "file '" + full + "' does not exist");
            ok = false;
            continue;
          }
          v.pages.push_back(ErrorPage{status, full});
        }
        break;
      case Type::kObject:
        if (n.IsScalar() && (f.flags & keys::kScalarItem)) {
          readScalarItem(n, *f.section, f.child(obj), path);
          return;
        }
        if (!n.IsMap()) {
          error(n, path, "must be a mapping");
          return;
        }
        readSection(n, *f.section, f.child(obj), path);
        return;
      case Type::kObjectList:
        if (!n.IsSequence()) {
          error(n, path, "must be a list");
          return;
        }
        if ((f.flags & keys::kNonEmpty) && n.size() == 0) {
          error(n, path, "must not be empty");
        }
        for (std::size_t i = 0; i < n.size(); ++i) {
          void* elem = f.child(obj);
          const YAML::Node e = n[i];
          if (e.IsScalar() && (f.flags & keys::kScalarItem)) {
            readScalarItem(e, *f.section, elem, item(path, i));
          } else if (e.IsMap()) {
            readSection(e, *f.section, elem, item(path, i));
          } else {
            error(e, item(path, i), "must be a mapping");
          }
        }
        return;
    }
    if (ok) f.set(obj, v);
  }

  void readScalarItem(const YAML::Node& n, const Section& s, void* obj, const std::string& path);

  std::string file_;
  std::string base_;
};

class Loader::SectionReporter final : public keys::Reporter {
 public:
  SectionReporter(Loader& l, const YAML::Node& map, const std::string& path, bool scalarItem,
                  const Section& s)
      : l_(l), map_(map), path_(path), scalarItem_(scalarItem), s_(s) {}
  void error(std::string_view key, std::string message, std::string hint) override {
    if (!key.empty() && has(key) && !scalarItem_) {
      const YAML::Node v = map_[std::string(key)];
      l_.error(v, child(path_, key), std::move(message), std::move(hint));
    } else {
      l_.error(map_, path_, std::move(message), std::move(hint));
    }
  }
  bool has(std::string_view key) const override {
    if (scalarItem_) return key == s_.fields[0].name;
    return static_cast<bool>(map_[std::string(key)]);
  }
  std::string resolvePath(std::string_view p) const override { return l_.resolve(p); }

 private:
  Loader& l_;
  const YAML::Node& map_;
  const std::string& path_;
  bool scalarItem_;
  const Section& s_;
};

void Loader::readSection(const YAML::Node& n, const Section& s, void* obj,
                         const std::string& path) {
  std::vector<std::string> names;
  for (const Field& f : s.fields) names.emplace_back(f.name);
  std::set<std::string> seen;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) {
      error(kv.first, path, "a key must be a plain name");
      continue;
    }
    const std::string& key = kv.first.Scalar();
    auto it = std::find_if(s.fields.begin(), s.fields.end(),
                           [&](const Field& f) { return key == f.name; });
    if (it == s.fields.end()) {
      error(kv.first, child(path, key), "unknown key", didYouMean(key, names, "allowed here: "));
      continue;
    }
    if (!seen.insert(key).second) {
      error(kv.first, child(path, key), "is set twice");
      continue;
    }
    if (kv.second.IsNull()) {  // "key:" with nothing after it; the value has no position of its own
      error(kv.first, child(path, key), "has no value");
      continue;
    }
    readField(kv.second, *it, obj, child(path, key));
  }
  for (const Field& f : s.fields) {
    if ((f.flags & keys::kRequired) && !n[f.name]) {
      error(n, path, std::string("missing required key '") + f.name + "'");
    }
  }
  if (s.validate != nullptr) {
    SectionReporter r(*this, n, path, false, s);
    s.validate(r, obj);
  }
}

void Loader::readScalarItem(const YAML::Node& n, const Section& s, void* obj,
                            const std::string& path) {
  readField(n, s.fields[0], obj, path);
  if (s.validate != nullptr) {
    SectionReporter r(*this, n, path, true, s);
    s.validate(r, obj);
  }
}

LoadResult build(const YAML::Node& root, Loader& r, const std::string& file) {
  auto cfg = std::make_shared<Config>();
  cfg->file = file;
  cfg->admin.address = *io::Address::parse("127.0.0.1:9901");
  if (!root.IsMap()) {
    r.error(root, "", "the config must be a mapping with listeners and clusters");
    return LoadResult{nullptr, std::move(r.errors)};
  }
  r.readSection(root, keys::root(), cfg.get(), "");
  check::crossCheck(r, root, *cfg, r.errors.empty());
  if (!r.errors.empty()) {
    std::stable_sort(r.errors.begin(), r.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       return a.where.line != b.where.line ? a.where.line < b.where.line
                                                           : a.where.column < b.where.column;
                     });
    return LoadResult{nullptr, std::move(r.errors)};
  }
  return LoadResult{std::move(cfg), {}};
}

}  // namespace

LoadResult loadString(const std::string& text, const std::string& fileName,
                      const std::string& baseDir) {
  Loader r(fileName, baseDir);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return LoadResult{nullptr,
                      {ConfigError{Location{fileName, e.mark.line + 1, e.mark.column + 1}, "",
                                   "YAML syntax: " + e.msg, ""}}};
  }
  try {
    return build(root, r, fileName);
  } catch (const YAML::Exception& e) {  // not expected: the walk checks every shape first
    r.errors.push_back(
        ConfigError{Location{fileName, e.mark.line + 1, e.mark.column + 1}, "", e.msg, ""});
    return LoadResult{nullptr, std::move(r.errors)};
  }
}

LoadResult loadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return LoadResult{nullptr, {ConfigError{Location{path, 1, 1}, "", "cannot read the file", ""}}};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return loadString(ss.str(), path, dir);
}

std::optional<Cidr> Cidr::parse(std::string_view s, std::string& error) {
  if (s.find('/') == std::string_view::npos) {
    error = "is not an address range: write address/prefix, e.g. 10.0.0.0/8 or fd00::/8";
    return std::nullopt;
  }
  std::string why;
  std::optional<CidrRange> r = parseCidr(s, &why);
  if (!r) {
    error = "is not an address range: " + why;
    return std::nullopt;
  }
  return Cidr{*r, std::string(s)};
}

}  // namespace ferry::config
