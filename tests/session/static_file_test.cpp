// Files under a static listener's root (proxy/session/static_file.h): request paths decoded and
// checked, and files opened only beneath the root, by openat2 and by the fallback check used where
// the kernel lacks it. Real files in a temporary directory; no sockets.

#include "proxy/session/static_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#ifdef __linux__
#include <sys/stat.h>
#endif

namespace ferry::session {
namespace {

namespace fs = std::filesystem;

struct Decoded {
  PathVerdict verdict;
  std::string path;
};

Decoded decode(std::string_view target, std::size_t cap = 256) {
  std::string out(cap, 'x');
  std::size_t len = 0;
  PathVerdict v = decodeStaticPath(target, std::span(out.data(), out.size()), len);
  if (v != PathVerdict::kOk) return {v, ""};
  EXPECT_EQ(out[len], '\0') << target;
  return {v, out.substr(0, len)};
}

TEST(StaticPath, PercentDecodesNames) {
  EXPECT_EQ(decode("/my%20file.txt").path, "my file.txt");
  EXPECT_EQ(decode("/%41%62c").path, "Abc");
  EXPECT_EQ(decode("/a+b").path, "a+b");
  EXPECT_EQ(decode("/100%25.txt").path, "100%.txt");
  EXPECT_EQ(decode("/d/f.txt?x=%2e%2e").path, "d/f.txt");
  EXPECT_EQ(decode("/what%3F.txt?q").path, "what?.txt");
}

TEST(StaticPath, DirectoriesGetTheirIndexAndEmptySegmentsGo) {
  EXPECT_EQ(decode("/").path, "index.html");
  EXPECT_EQ(decode("/docs/").path, "docs/index.html");
  EXPECT_EQ(decode("//etc/passwd").path, "etc/passwd");  // never an absolute path
  EXPECT_EQ(decode("/a//b").path, "a/b");
  EXPECT_EQ(decode("/./a").path, "./a");
}

TEST(StaticPath, DotsInNamesAreFineButADotDotSegmentIs400) {
  EXPECT_EQ(decode("/a..b.txt").path, "a..b.txt");
  EXPECT_EQ(decode("/..a/b..").path, "..a/b..");
  EXPECT_EQ(decode("/.../x").path, ".../x");
  for (const char* bad : {"/..", "/../etc/passwd", "/a/../b", "/a/..", "/%2e%2e/x", "/a/%2E%2e",
                          "/.%2e/x", "/a/..?q"}) {
    EXPECT_EQ(decode(bad).verdict, PathVerdict::kBadRequest) << bad;
  }
}

TEST(StaticPath, EscapesThatCannotNameAFileAreRefused) {
  for (const char* bad : {"/a%00b", "/a%0", "/a%", "/a%zz", "/a%g0"}) {
    EXPECT_EQ(decode(bad).verdict, PathVerdict::kBadRequest) << bad;
  }
  EXPECT_EQ(decode(std::string_view("/a\0b", 4)).verdict, PathVerdict::kBadRequest);
  EXPECT_EQ(decode("/a%2fb").verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("/a%2Fb").verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("/a\\b").verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("/a%5cb").verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("").verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("a").verdict, PathVerdict::kNotFound);
}

TEST(StaticPath, TooLongIs404NotAnOverflow) {
  std::string name = "/" + std::string(100, 'a');
  // Room is always kept for "index.html" and the NUL: 100 + 10 + 1.
  EXPECT_EQ(decode(name, 111).path, name.substr(1));
  EXPECT_EQ(decode(name, 110).verdict, PathVerdict::kNotFound);
  EXPECT_EQ(decode("/", 10).verdict, PathVerdict::kNotFound);  // no room for index.html
  EXPECT_EQ(decode("/", 11).path, "index.html");
}

// Whatever the target, a path decodeStaticPath accepts is relative and has no ".." segment, no
// empty segment, no NUL and no backslash: nothing in it can climb out of the root by itself.
TEST(StaticPath, NoAcceptedPathCanClimbOutOfTheRoot) {
  constexpr std::string_view kAlphabet = "/.%2eEfF05a\\?";
  std::mt19937 rng(16);
  std::size_t accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string target = "/";
    for (std::size_t n = rng() % 14; n > 0; --n) target += kAlphabet[rng() % kAlphabet.size()];
    Decoded d = decode(target);
    if (d.verdict != PathVerdict::kOk) continue;
    ++accepted;
    ASSERT_FALSE(d.path.empty()) << target;
    ASSERT_NE(d.path.front(), '/') << target;
    ASSERT_EQ(d.path.find('\0'), std::string::npos) << target;
    ASSERT_EQ(d.path.find('\\'), std::string::npos) << target;
    ASSERT_EQ(d.path.find("//"), std::string::npos) << target;
    std::size_t start = 0;
    while (start <= d.path.size()) {
      std::size_t end = std::min(d.path.find('/', start), d.path.size());
      ASSERT_NE(d.path.substr(start, end - start), "..") << target << " -> " << d.path;
      start = end + 1;
    }
  }
  EXPECT_GT(accepted, 1000u);  // the alphabet reaches accepted paths, not only refusals
}

// root/ with f.txt, sub/g.txt, in -> sub (relative), out -> ../outside; outside/secret.txt.
class StaticRootTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ferry-static-" + std::to_string(std::random_device()()));
    fs::create_directories(dir_ / "root" / "sub");
    fs::create_directories(dir_ / "outside");
    write(dir_ / "root" / "f.txt", "hello");
    write(dir_ / "root" / "sub" / "g.txt", "in sub");
    write(dir_ / "outside" / "secret.txt", "secret");
    std::error_code ec;
    fs::create_directory_symlink("sub", dir_ / "root" / "in", ec);
    if (!ec) fs::create_directory_symlink(dir_ / "outside", dir_ / "root" / "out", ec);
    if (!ec) fs::create_symlink("../outside/secret.txt", dir_ / "root" / "rel-out.txt", ec);
    symlinks_ = !ec;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  StaticRoot root(bool outside = false) {
    return StaticRoot::open((dir_ / "root").string(),
                            {.symlinksOutsideRoot = outside, .forceFallback = GetParam()});
  }
  fs::path dir_;
  bool symlinks_ = false;
};

TEST_P(StaticRootTest, OpensRegularFilesWithTheirFacts) {
  StaticRoot r = root();
  StaticFile f;
  ASSERT_EQ(r.openFile("f.txt", f), OpenVerdict::kOk);
  EXPECT_EQ(f.size(), 5u);
  EXPECT_GT(f.mtimeNs(), 0u);
  ASSERT_EQ(r.openFile("sub/g.txt", f), OpenVerdict::kOk);
  EXPECT_EQ(f.size(), 6u);
  EXPECT_EQ(r.openFile("missing.txt", f), OpenVerdict::kNotFound);
  EXPECT_EQ(r.openFile("sub", f), OpenVerdict::kNotFound);  // a directory
  StaticRoot gone = StaticRoot::open((dir_ / "nope").string(), {});
  EXPECT_EQ(gone.openFile("f.txt", f), OpenVerdict::kNotFound);
}

TEST_P(StaticRootTest, SymlinksOutOfTheRootAreRefusedUnlessAllowed) {
  if (!symlinks_) GTEST_SKIP() << "this system cannot make symlinks here";
  StaticRoot r = root();
  StaticFile f;
  EXPECT_EQ(r.openFile("in/g.txt", f), OpenVerdict::kOk);  // stays inside: fine
  EXPECT_EQ(r.openFile("out/secret.txt", f), OpenVerdict::kOutsideRoot);
  EXPECT_EQ(r.openFile("rel-out.txt", f), OpenVerdict::kOutsideRoot);
  StaticRoot open = root(true);
  ASSERT_EQ(open.openFile("out/secret.txt", f), OpenVerdict::kOk);
  EXPECT_EQ(f.size(), 6u);
  EXPECT_EQ(open.openFile("rel-out.txt", f), OpenVerdict::kOk);
}

#ifdef __linux__
TEST_P(StaticRootTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "root" / "pipe").c_str(), 0600), 0);
  StaticFile f;
  EXPECT_EQ(root().openFile("pipe", f), OpenVerdict::kNotFound);
}

TEST_P(StaticRootTest, AnAbsoluteSymlinkThroughProcIsRefused) {
  std::error_code ec;
  fs::create_symlink("/proc/self/root/etc/hostname", dir_ / "root" / "magic", ec);
  ASSERT_FALSE(ec);
  StaticFile f;
  EXPECT_NE(root().openFile("magic", f), OpenVerdict::kOk);
}
#endif

INSTANTIATE_TEST_SUITE_P(Check, StaticRootTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Fallback" : "Openat2";
                         });

}  // namespace
}  // namespace ferry::session
