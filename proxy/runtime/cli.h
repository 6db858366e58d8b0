#pragma once
// ferry's command line (CLI11): what the user asked for, validated. Parsing never throws to the
// caller and never exits the process itself.

#include <optional>
#include <string>
#include <vector>

namespace ferry::runtime {

struct CommandLine {
  std::string configFile = "config/ferry.yaml";  // -c, --config
  std::string check;                             // --check FILE: validate and exit
  std::vector<std::string> diff;  // --check --diff OLD NEW: what a reload from OLD to NEW does
  bool printSchema = false;       // --print-schema: JSON Schema to stdout
  unsigned workers = 0;           // --workers N; 0: from the config
  std::string io;                 // --io; empty: from the config
  std::string logLevel;           // --log-level; empty: from the config
};

// Parses argv. Returns the command line, or sets exitCode and returns nullopt when ferry must exit
// at once: 0 after --help or --version (printed to stdout), 2 after a bad flag or value (a clear
// message and the usage hint printed to stderr).
std::optional<CommandLine> parseCommandLine(int argc, char** argv, int& exitCode);

// The version CMake's project() defines.
const char* version();

}  // namespace ferry::runtime
