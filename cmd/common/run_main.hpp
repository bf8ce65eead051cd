// The one place where programs catch errors: maps libcnn exceptions and CLI11 parse errors to
// DESIGN.md's exit codes and prints "cnn-<verb>: error: <sentence>" on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <optional>
#include <string>

namespace cnn::cmd {

enum ExitCode : int {
  kOk = 0,
  kRuntimeFailure = 1,
  kUsage = 2,
  kBadInput = 3,
  kGateFailed = 4,
  kInterrupted = 130,
};

// Options every program has (DESIGN.md): --seed, --threads, -q/--quiet, --json, --version.
struct CommonOptions {
  unsigned long seed = 0;
  int threads = 0;  // 0: all available cores
  bool quiet = false;
  bool json = false;
};

// The thread count to use: n, or every core for 0.
std::size_t resolve_threads(int n);

// A CLI11 check that a number is at least min (and, when given, at most max), with a one-line
// message such as "--epochs: must be at least 1, got 0" (CLI11's own range checks print the
// limits of double in full).
CLI::Validator at_least(double min, std::optional<double> max = std::nullopt);

// Adds the common options to app (and --version, which prints "<program> <version>").
void add_common_options(CLI::App& app, CommonOptions& opts);

// Installs a SIGINT and SIGTERM handler that only sets a flag, and returns the flag: long work
// polls it, finishes its step, saves what it must and exits with kInterrupted.
const std::atomic<bool>* stop_on_sigint();

// Parses argv into app, then runs body; returns the exit code. body returns its own code
// (0, or kGateFailed for a failed quality gate).
int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace cnn::cmd
