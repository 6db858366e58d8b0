// `make run`'s config, as a newcomer gets it: ferry on config/ferry.yaml serves a page through
// port 8080 from both of its built-in backends in turn. Uses the config's fixed ports.

#include <gtest/gtest.h>

#include "tests/support/harness.h"

namespace ferry::test {
namespace {

TEST(DefaultConfig, ServesThePageFromBothBuiltInBackends) {
  Process ferry({ferryBinary(), "-c", sourceDir() + "/config/ferry.yaml"});
  ASSERT_TRUE(waitUntil(
      [&] {
        return !ferry.running() ||
               statusOf(rawExchange(8080, "GET / HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
                                    1s)) == 200;
      },
      20s));
  ASSERT_TRUE(ferry.running()) << ferry.logText();
  std::string a, b;
  for (int i = 0; i < 4; ++i) {
    CommandResult r = run("curl -sS --max-time 5 http://localhost:8080/");
    ASSERT_EQ(r.exitCode, 0);
    if (r.out.find("demo backend a") != std::string::npos) a = r.out;
    if (r.out.find("demo backend b") != std::string::npos) b = r.out;
  }
  EXPECT_FALSE(a.empty()) << "backend a never answered";
  EXPECT_FALSE(b.empty()) << "backend b never answered";
  CommandResult m = run("curl -sS --max-time 5 http://127.0.0.1:9901/metrics");
  EXPECT_NE(
      m.out.find("ferry_http_requests_total{listener=\"web\",route=\"demo\",code_class=\"2xx\"}"),
      std::string::npos);
  EXPECT_EQ(ferry.stop(), 0) << ferry.logText();
}

}  // namespace
}  // namespace ferry::test
