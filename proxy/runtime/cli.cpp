#include "proxy/runtime/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#ifndef FERRY_VERSION
#error "FERRY_VERSION must come from CMake's project(VERSION)"
#endif

namespace ferry::runtime {

const char* version() {
  return FERRY_VERSION;
}

std::optional<CommandLine> parseCommandLine(int argc, char** argv, int& exitCode) {
  CommandLine cl;
  CLI::App app{"ferry: a connection-pooling HTTP/1.1 and TCP reverse proxy and load balancer",
               "ferry"};
  app.set_version_flag("--version", std::string("ferry ") + FERRY_VERSION,
                       "Print the version and exit");
  app.add_option("-c,--config", cl.configFile, "Config file to serve")
      ->type_name("FILE")
      ->capture_default_str();
  CLI::Option* check =
      app.add_option("--check", cl.check,
                     "Validate FILE, print every problem as file:line:col: key: message, exit 1 "
                     "if any")
          ->type_name("FILE")
          ->expected(0, 1);
  app.add_option("--diff", cl.diff,
                 "With --check: validate OLD and NEW, print what a reload from OLD to NEW would "
                 "add, change, drain and keep")
      ->type_name("OLD NEW")
      ->expected(2)
      ->needs(check);
  app.add_flag("--print-schema", cl.printSchema,
               "Print the config's JSON Schema (draft-07) and exit");
  app.add_option("--workers", cl.workers, "Worker threads (overrides the config's workers)")
      ->type_name("N")
      ->check(CLI::Range(1U, 1024U));
  app.add_option("--io", cl.io, "I/O backend (overrides the config's io)")
      ->type_name("BACKEND")
      ->check(CLI::IsMember({"auto", "io_uring", "epoll"}));
  app.add_option("--log-level", cl.logLevel, "Least severe level logged (overrides log_level)")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0 that print to stdout.
    exitCode = e.get_exit_code() == 0 ? 0 : 2;
    if (exitCode == 0) {
      app.exit(e, std::cout, std::cerr);
    } else {
      std::cerr << "ferry: " << e.what() << "\nRun 'ferry --help' for the options.\n";
    }
    return std::nullopt;
  }
  if (check->count() > 0 && cl.check.empty() && cl.diff.empty()) {
    std::cerr << "ferry: --check: 1 required FILE missing\nRun 'ferry --help' for the options.\n";
    exitCode = 2;
    return std::nullopt;
  }
  return cl;
}

}  // namespace ferry::runtime
