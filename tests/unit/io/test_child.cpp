// run_in_child: the result crosses the pipe whole; the child's error comes back as the same type
// with the same sentence; a crash, a runaway allocation or a spinning child becomes one
// FormatError naming the file; a parent that gives up kills the child.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <new>
#include <string>
#include <vector>

#include "io/child.hpp"
#include "tensor/budget.hpp"
#include "tensor/error.hpp"

using cnn::io::ChildLimits;
using cnn::io::PipeIn;
using cnn::io::PipeOut;
using cnn::io::run_in_child;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// Runs work in a child whose result is one string; returns what the parent read.
std::string round_trip(const std::function<void(PipeOut&)>& work, const ChildLimits& limits = {}) {
  std::string got;
  run_in_child("the reader", "in.bin", limits, work, [&](PipeIn& in) { got = in.str(64 << 20); });
  return got;
}

}  // namespace

TEST_CASE("run_in_child: 20 MB of result arrive whole, in order") {
  std::string big(20 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  CHECK(round_trip([&](PipeOut& out) { out.str(big); }) == big);
}

TEST_CASE("run_in_child: the child's error is rethrown as its type with its sentence") {
  try {
    round_trip([](PipeOut&) { throw cnn::FormatError("m.h5", 12, "bad group"); });
    FAIL("no error");
  } catch (const cnn::FormatError& e) {
    CHECK(std::string(e.what()) == "m.h5@12: bad group");
    CHECK(e.file() == "m.h5");
    CHECK(e.offset() == 12u);
  }
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut&) { throw cnn::InputError("x", "no such file"); }),
                       "x: no such file", cnn::InputError);
  CHECK_THROWS_WITH_AS(
      round_trip([](PipeOut&) { throw cnn::BudgetError("the attribute", 1 << 30, 1 << 20); }),
      doctest::Contains("the attribute needs 1.0 GiB, more than the memory budget of 1.0 MiB"),
      cnn::BudgetError);
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut&) { throw cnn::IoError("p", "write", "full"); }),
                       "p: cannot write: full", cnn::IoError);
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut&) { throw std::runtime_error("odd"); }), "odd",
                       cnn::Error);
}

TEST_CASE("run_in_child: a crash is one FormatError naming the file, the parent lives on") {
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut& out) {
                         out.u64(5);  // part of a result, then a fault
                         std::raise(SIGSEGV);
                       }),
                       "in.bin: the reader crashed (Segmentation fault) while reading the file (in "
                       "a separate process); the file is damaged or hostile",
                       cnn::FormatError);
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut&) { ::_exit(1); }),
                       doctest::Contains("the reader stopped with exit status 1"),
                       cnn::FormatError);
  CHECK_THROWS_WITH_AS(round_trip([](PipeOut&) {}),
                       doctest::Contains("the reader stopped before finishing"), cnn::FormatError);
}

TEST_CASE("run_in_child: memory and CPU time are bounded") {
  ChildLimits limits;
  limits.memory = 64 << 20;
  if (!kAsan) {  // AddressSanitizer's shadow memory rules out an address-space limit
    CHECK_THROWS_WITH_AS(round_trip(
                             [](PipeOut& out) {
                               std::vector<char> v(std::size_t{1} << 30, 1);
                               out.str(std::string(v.data(), 1));
                             },
                             limits),
                         doctest::Contains("in.bin: the reader needs more than its memory limit "
                                           "of 64 MiB"),
                         cnn::FormatError);
    // Inside the limit it works.
    CHECK(round_trip(
              [](PipeOut& out) {
                std::vector<char> v(std::size_t{32} << 20, 'x');
                out.str(std::string(v.data(), 3));
              },
              limits) == "xxx");
  }
  limits.cpu_seconds = 1;
  CHECK_THROWS_WITH_AS(round_trip(
                           [](PipeOut&) {
                             volatile unsigned long spins = 0;
                             for (;;) spins = spins + 1;
                           },
                           limits),
                       doctest::Contains("the reader ran past its CPU-time limit of 1 s"),
                       cnn::FormatError);
}

TEST_CASE("run_in_child: when the parent's reader throws, the child is killed and reaped") {
  pid_t child = 0;
  CHECK_THROWS_WITH_AS(run_in_child(
                           "the reader", "in.bin", {},
                           [](PipeOut& out) {
                             out.u64(static_cast<std::uint64_t>(::getpid()));
                             ::pause();  // would wait forever
                           },
                           [&](PipeIn& in) {
                             child = static_cast<pid_t>(in.u64());
                             throw cnn::FormatError("in.bin", std::nullopt,
                                                    "the parent's own check");
                           }),
                       "in.bin: the parent's own check", cnn::FormatError);
  REQUIRE(child > 0);
  CHECK(::waitpid(child, nullptr, WNOHANG) < 0);  // already reaped: no zombie left behind
}
