// The JSON Schema (draft-07) and the Markdown reference, both generated from the key table.

#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/keys.h"

namespace ferry::config {
namespace {

using keys::Field;
using keys::Section;
using keys::Type;

std::string quote(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

// A small ordered JSON tree, printed with two-space indentation.
struct Json {
  std::string scalar;  // a literal when members is empty and !isObject
  std::vector<std::pair<std::string, Json>> members;
  std::vector<Json> items;
  enum Kind { kScalar, kObject, kArray } kind = kScalar;
  std::string raw;  // extra members as JSON text, appended to an object

  static Json lit(std::string s) { return Json{std::move(s), {}, {}, kScalar, {}}; }
  static Json str(std::string_view s) { return lit(quote(s)); }
  static Json num(std::uint64_t v) { return lit(std::to_string(v)); }
  static Json obj() { return Json{{}, {}, {}, kObject, {}}; }
  static Json arr() { return Json{{}, {}, {}, kArray, {}}; }
  Json& add(std::string k, Json v) {
    members.emplace_back(std::move(k), std::move(v));
    return *this;
  }
  Json& push(Json v) {
    items.push_back(std::move(v));
    return *this;
  }
  void print(std::string& o, int indent) const {
    std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    std::string end(static_cast<std::size_t>(indent), ' ');
    if (kind == kScalar) {
      o += scalar;
    } else if (kind == kArray) {
      bool simple = true;
      for (const Json& i : items) simple = simple && i.kind == kScalar;
      if (simple) {
        o += "[";
        for (std::size_t i = 0; i < items.size(); ++i) o += (i ? ", " : "") + items[i].scalar;
        o += "]";
        return;
      }
      o += "[\n";
      for (std::size_t i = 0; i < items.size(); ++i) {
        o += pad;
        items[i].print(o, indent + 2);
        o += i + 1 < items.size() ? ",\n" : "\n";
      }
      o += end + "]";
    } else {
      o += "{\n";
      for (std::size_t i = 0; i < members.size(); ++i) {
        o += pad + quote(members[i].first) + ": ";
        members[i].second.print(o, indent + 2);
        o += i + 1 < members.size() || !raw.empty() ? ",\n" : "\n";
      }
      if (!raw.empty()) o += pad + raw + "\n";
      o += end + "}";
    }
  }
};

constexpr const char* kDurationPattern = "^0*[1-9][0-9]*(ms|s|m|h)$";
constexpr const char* kDurationOffPattern = "^(off|0*[1-9][0-9]*(ms|s|m|h))$";
constexpr const char* kSizePattern = "^0*[1-9][0-9]*(KiB|MiB|GiB)$";
constexpr const char* kSizeOffPattern = "^(off|0*[1-9][0-9]*(KiB|MiB|GiB))$";
constexpr const char* kAddressPattern =
    "^(localhost|\\[[0-9A-Fa-f:.]+\\]|[0-9]{1,3}(\\.[0-9]{1,3}){3}):[0-9]{1,5}$";
// An IP literal or a DNS name (labels of letters, digits, '-' and '_'), then a port.
constexpr const char* kHostPortPattern =
    "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_-]{1,63}(\\.[A-Za-z0-9_-]{1,63})*\\.?):[0-9]{1,5}$";
constexpr const char* kCidrPattern = "^([0-9.]+|[0-9A-Fa-f:.]+)/[0-9]{1,3}$";

Json stringSchema(const Field& f) {
  Json j = Json::obj();
  j.add("type", Json::str("string"));
  if (f.pattern != nullptr) j.add("pattern", Json::str(f.pattern));
  if (!f.choices.empty()) {
    // A choice that is a number (retry_on's 503) may be written plain, as YAML's integer.
    Json e = Json::arr();
    for (const char* c : f.choices) e.push(Json::str(c));
    for (const char* c : f.choices) {
      if (std::string_view(c).find_first_not_of("0123456789") == std::string_view::npos) {
        e.push(Json::lit(c));
      }
    }
    j = Json::obj();
    j.add("enum", e);
  }
  if (f.flags & keys::kNonEmpty) j.add("minLength", Json::num(1));
  return j;
}

Json defaultOf(const Field& f) {
  std::string d = f.defaultText;
  bool literal = f.type == Type::kBool || (!d.empty() && d.front() == '[') ||
                 (d.size() >= 2 && d.front() == '"') ||
                 ((f.type == Type::kUint || f.type == Type::kSize) &&
                  d.find_first_not_of("0123456789") == std::string::npos);
  return literal ? Json::lit(d) : Json::str(d);
}

Json fieldSchema(const Field& f) {
  Json j = Json::obj();
  switch (f.type) {
    case Type::kString:
      j = stringSchema(f);
      break;
    case Type::kBool:
      if (!f.choices.empty()) {
        j.add("const", Json::lit("true"));
      } else {
        j.add("type", Json::str("boolean"));
      }
      break;
    case Type::kUint:
      if (!f.choices.empty()) {
        Json e = Json::arr();
        for (const char* c : f.choices) e.push(Json::lit(c));
        j.add("enum", e);
      } else if (f.flags & keys::kAuto) {
        Json n = Json::obj();
        n.add("type", Json::str("integer"))
            .add("minimum", Json::num(f.min))
            .add("maximum", Json::num(f.max));
        Json a = Json::obj();
        a.add("const", Json::str("auto"));
        j.add("anyOf", Json::arr().push(n).push(a));
      } else {
        j.add("type", Json::str("integer"))
            .add("minimum", Json::num(f.min))
            .add("maximum", Json::num(f.max));
      }
      break;
    case Type::kDuration:
      j.add("type", Json::str("string"))
          .add("pattern",
               Json::str((f.flags & keys::kOff) ? kDurationOffPattern : kDurationPattern));
      break;
    case Type::kSize: {
      Json n = Json::obj();
      n.add("type", Json::str("integer")).add("minimum", Json::num(f.min));
      if (f.max != UINT64_MAX) n.add("maximum", Json::num(f.max));
      Json s = Json::obj();
      s.add("type", Json::str("string"))
          .add("pattern", Json::str((f.flags & keys::kOff) ? kSizeOffPattern : kSizePattern));
      j.add("anyOf", Json::arr().push(n).push(s));
      break;
    }
    case Type::kEnum: {
      Json e = Json::arr();
      for (const char* c : f.choices) e.push(Json::str(c));
      j.add("enum", e);
      break;
    }
    case Type::kAddress:
      j.add("type", Json::str("string")).add("pattern", Json::str(kAddressPattern));
      break;
    case Type::kHostPort:
      j.add("type", Json::str("string")).add("pattern", Json::str(kHostPortPattern));
      break;
    case Type::kStringList:
      j.add("type", Json::str("array")).add("items", stringSchema(f));
      if (f.flags & keys::kNonEmpty) j.add("minItems", Json::num(1));
      break;
    case Type::kStringMap: {
      Json names = Json::obj();
      names.add("pattern", Json::str(f.pattern));
      Json values = Json::obj();
      values.add("type", Json::str("string"));
      j.add("type", Json::str("object"))
          .add("propertyNames", names)
          .add("additionalProperties", values);
      break;
    }
    case Type::kCidrList: {
      Json s = Json::obj();
      s.add("type", Json::str("string")).add("pattern", Json::str(kCidrPattern));
      j.add("type", Json::str("array")).add("items", s);
      break;
    }
    case Type::kStatusFile: {
      Json names = Json::obj();
      names.add("pattern", Json::str("^[45][0-9][0-9]$"));
      Json values = Json::obj();
      values.add("type", Json::str("string")).add("minLength", Json::num(1));
      j.add("type", Json::str("object"))
          .add("propertyNames", names)
          .add("additionalProperties", values);
      break;
    }
    case Type::kObject:
      if (f.flags & keys::kScalarItem) {  // a scalar sets the section's first field
        Json ref = Json::obj();
        ref.add("$ref", Json::str(std::string("#/definitions/") + f.section->name));
        j.add("anyOf", Json::arr().push(fieldSchema(f.section->fields[0])).push(ref));
      } else {
        j.add("$ref", Json::str(std::string("#/definitions/") + f.section->name));
      }
      break;
    case Type::kObjectList: {
      Json ref = Json::obj();
      ref.add("$ref", Json::str(std::string("#/definitions/") + f.section->name));
      j.add("type", Json::str("array"));
      if (f.flags & keys::kScalarItem) {
        j.add("items", Json::obj().add(
                           "anyOf", Json::arr().push(fieldSchema(f.section->fields[0])).push(ref)));
      } else {
        j.add("items", ref);
      }
      if (f.flags & keys::kNonEmpty) j.add("minItems", Json::num(1));
      break;
    }
  }
  if (f.type != Type::kObject) {
    j.add("description", Json::str(f.doc));
    if (f.defaultText != nullptr) j.add("default", defaultOf(f));
  }
  return j;
}

Json sectionSchema(const Section& s) {
  Json props = Json::obj();
  Json required = Json::arr();
  for (const Field& f : s.fields) {
    props.add(f.name, fieldSchema(f));
    if (f.flags & keys::kRequired) required.push(Json::str(f.name));
  }
  Json j = Json::obj();
  j.add("type", Json::str("object")).add("additionalProperties", Json::lit("false"));
  j.add("properties", props);
  if (!required.items.empty()) j.add("required", required);
  if (s.extraSchema != nullptr) j.raw = s.extraSchema;
  return j;
}

std::string typeText(const Field& f) {
  switch (f.type) {
    case Type::kString:
      return (f.flags & keys::kOff) ? "string or `off`" : "string";
    case Type::kBool:
      return f.choices.empty() ? "bool" : "`true`";
    case Type::kUint:
      return (f.flags & keys::kAuto) ? "integer or `auto`" : "integer";
    case Type::kDuration:
      return (f.flags & keys::kOff) ? "duration or `off`" : "duration";
    case Type::kSize:
      return (f.flags & keys::kOff) ? "size or `off`" : "size";
    case Type::kEnum: {
      std::string s;
      for (const char* c : f.choices) s += (s.empty() ? "`" : " | `") + std::string(c) + "`";
      return s;
    }
    case Type::kAddress:
      return "ip:port";
    case Type::kHostPort:
      return "host:port";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringMap:
      return "map name: value";
    case Type::kCidrList:
      return "list of CIDR";
    case Type::kStatusFile:
      return "map status: file";
    case Type::kObject:
      return std::string("[") + f.section->name + "](#" + f.section->name + ")";
    case Type::kObjectList:
      return std::string("list of [") + f.section->name + "](#" + f.section->name + ")";
  }
  return "";
}

std::string rangeText(const Field& f) {
  if (!f.choices.empty() && f.type == Type::kUint) {
    std::string s;
    for (const char* c : f.choices) s += (s.empty() ? "" : ", ") + std::string(c);
    return s;
  }
  if (f.type == Type::kUint) return std::to_string(f.min) + "–" + std::to_string(f.max);
  if (f.type == Type::kDuration) {
    return keys::formatDurationMs(f.min) + "–" + keys::formatDurationMs(f.max);
  }
  if (f.type == Type::kSize) {
    return keys::formatSize(f.min) + "–" + keys::formatSize(f.max);
  }
  return "";
}

std::string cell(std::string s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\";
    o += c;
  }
  return o;
}

}  // namespace

std::string jsonSchema() {
  const Section& root = keys::root();
  Json j = sectionSchema(root);
  Json out = Json::obj();
  out.add("$schema", Json::str("http://json-schema.org/draft-07/schema#"))
      .add("title", Json::str("ferry configuration"))
      .add("description",
           Json::str("Generated by `ferry --print-schema` from ferry's key table; do not edit."));
  for (auto& m : j.members) out.add(m.first, m.second);
  Json defs = Json::obj();
  for (const Section* s : keys::sections()) {
    if (s != &root) defs.add(s->name, sectionSchema(*s));
  }
  out.add("definitions", defs);
  std::string text;
  out.print(text, 0);
  return text + "\n";
}

std::string referenceTable() {
  std::string o;
  for (const Section* s : keys::sections()) {
    o += std::string("\n### ") + s->name + "\n\n";
    o += s->where[0] ? "Keys of `" + std::string(s->where) + "`.\n\n"
                     : std::string("Keys at the top level of the file.\n\n");
    o += "| key | type | default | range | description |\n|---|---|---|---|---|\n";
    for (const Field& f : s->fields) {
      std::string def;
      if (f.defaultText != nullptr) {
        def.append("`").append(f.defaultText).append("`");
      } else if (f.flags & keys::kRequired) {
        def = "required";
      }
      o.append("| `").append(f.name).append("` | ").append(cell(typeText(f))).append(" | ");
      o.append(cell(def)).append(" | ").append(cell(rangeText(f))).append(" | ");
      o.append(cell(f.doc)).append(" |\n");
    }
  }
  return o;
}

}  // namespace ferry::config
