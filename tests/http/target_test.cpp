#include "proxy/http/target.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::http {
namespace {

struct TCase {
  const char* method;
  const char* target;
  bool ok;
  TargetForm form;
  const char* authority;
  const char* host;
  const char* port;
  const char* path;
  const char* query;  // nullptr: no query
  const char* sent;   // what writeOriginForm writes; or the error when !ok
};

void PrintTo(const TCase& c, std::ostream* os) {
  *os << c.method << " " << c.target;
}

class Targets : public ::testing::TestWithParam<TCase> {};

TEST_P(Targets, ParseAndOriginForm) {
  const TCase& c = GetParam();
  TargetParse r = parseRequestTarget(c.method, c.target);
  ASSERT_EQ(r.ok, c.ok) << c.target << ": " << r.error;
  if (!c.ok) {
    EXPECT_EQ(r.error, c.sent);
    return;
  }
  const RequestTarget& t = r.target;
  EXPECT_EQ(t.form, c.form);
  EXPECT_EQ(t.authority, c.authority);
  EXPECT_EQ(t.host, c.host);
  EXPECT_EQ(t.port, c.port);
  EXPECT_EQ(t.path, c.path);
  EXPECT_EQ(t.hasQuery, c.query != nullptr);
  if (c.query != nullptr) {
    EXPECT_EQ(t.query, c.query);
  }
  char buf[256];
  HeadWriter w(buf);
  writeOriginForm(c.method, c.target, t, w);
  EXPECT_EQ(w.view(), c.sent);
  // The origin view is what the backend gets, except where that is not a substring.
  if (t.form == TargetForm::kOrigin) {
    EXPECT_EQ(t.origin, c.target);
  } else if (t.form == TargetForm::kAbsolute && !(t.pathWasEmpty && t.hasQuery)) {
    EXPECT_EQ(t.origin, std::string_view(c.method) == "OPTIONS" && t.pathWasEmpty ? "/" : c.sent);
  } else {
    EXPECT_EQ(t.origin, "");
  }
}

using F = TargetForm;
INSTANTIATE_TEST_SUITE_P(
    Table, Targets,
    ::testing::Values(
        TCase{"GET", "/a/b?x=1&y", true, F::kOrigin, "", "", "", "/a/b", "x=1&y", "/a/b?x=1&y"},
        TCase{"GET", "/", true, F::kOrigin, "", "", "", "/", nullptr, "/"},
        TCase{"GET", "/p?", true, F::kOrigin, "", "", "", "/p", "", "/p?"},
        TCase{"GET", "http://example.com:8080/path?q=1", true, F::kAbsolute, "example.com:8080",
              "example.com", "8080", "/path", "q=1", "/path?q=1"},
        TCase{"GET", "HTTP://Example.com/", true, F::kAbsolute, "Example.com", "Example.com", "",
              "/", nullptr, "/"},
        TCase{"GET", "http://example.com", true, F::kAbsolute, "example.com", "example.com", "",
              "/", nullptr, "/"},
        TCase{"GET", "http://example.com?q", true, F::kAbsolute, "example.com", "example.com", "",
              "/", "q", "/?q"},
        TCase{"GET", "https://[2001:db8::1]:443/x", true, F::kAbsolute, "[2001:db8::1]:443",
              "[2001:db8::1]", "443", "/x", nullptr, "/x"},
        TCase{"OPTIONS", "http://example.com", true, F::kAbsolute, "example.com", "example.com", "",
              "/", nullptr, "*"},
        TCase{"OPTIONS", "http://example.com/", true, F::kAbsolute, "example.com", "example.com",
              "", "/", nullptr, "/"},
        TCase{"OPTIONS", "*", true, F::kAsterisk, "", "", "", "", nullptr, "*"},
        TCase{"CONNECT", "example.com:443", true, F::kAuthority, "example.com:443", "example.com",
              "443", "", nullptr, "example.com:443"},
        TCase{"CONNECT", "[::1]:8443", true, F::kAuthority, "[::1]:8443", "[::1]", "8443", "",
              nullptr, "[::1]:8443"},
        // rejected
        TCase{"GET", "*", false, F::kOrigin, "", "", "", "", nullptr,
              "asterisk-form target outside OPTIONS"},
        TCase{"CONNECT", "example.com", false, F::kOrigin, "", "", "", "", nullptr,
              "CONNECT needs an authority-form target (host:port)"},
        TCase{"CONNECT", "/x", false, F::kOrigin, "", "", "", "", nullptr,
              "CONNECT needs an authority-form target (host:port)"},
        TCase{"GET", "example.com:80", false, F::kOrigin, "", "", "", "", nullptr,
              "unrecognized request target form"},
        TCase{"GET", "ftp://example.com/", false, F::kOrigin, "", "", "", "", nullptr,
              "absolute-form target with a scheme other than http or https"},
        TCase{"GET", "http://user:pw@example.com/", false, F::kOrigin, "", "", "", "", nullptr,
              "userinfo in an absolute-form target"},
        TCase{"GET", "http:///x", false, F::kOrigin, "", "", "", "", nullptr,
              "invalid authority in an absolute-form target"},
        TCase{"GET", "http://exa mple/", false, F::kOrigin, "", "", "", "", nullptr,
              "invalid authority in an absolute-form target"},
        TCase{"GET", "http://h:80x/", false, F::kOrigin, "", "", "", "", nullptr,
              "invalid authority in an absolute-form target"},
        TCase{"GET", "http://[::1/", false, F::kOrigin, "", "", "", "", nullptr,
              "invalid authority in an absolute-form target"},
        TCase{"GET", "/a#frag", false, F::kOrigin, "", "", "", "", nullptr,
              "fragment in the request target"},
        TCase{"GET", "", false, F::kOrigin, "", "", "", "", nullptr, "empty request target"}));

TEST(Authority, SplitsHostAndPort) {
  std::string_view host;
  std::string_view port;
  EXPECT_TRUE(splitAuthority("a.b:1", host, port));
  EXPECT_EQ(host, "a.b");
  EXPECT_EQ(port, "1");
  EXPECT_TRUE(splitAuthority("a", host, port));
  EXPECT_EQ(port, "");
  EXPECT_FALSE(splitAuthority("a:", host, port));
  EXPECT_FALSE(splitAuthority(":80", host, port));
  EXPECT_FALSE(splitAuthority("a:123456", host, port));
  EXPECT_FALSE(splitAuthority("a/b", host, port));
  EXPECT_FALSE(splitAuthority("[]:80", host, port));
  EXPECT_FALSE(splitAuthority("[::1]x", host, port));
}

}  // namespace
}  // namespace ferry::http
