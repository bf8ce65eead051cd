// bench_peak: the CPU's clock and its FMA peak, measured, for "fraction of peak" figures.
//
//   clock:  a chain of dependent 64-bit integer adds (one cycle of latency each on every x86-64
//           core of the last 20 years) -> adds per second = cycles per second.
//   FMA:    12 independent accumulators of vfmadd (enough to cover latency x pipes, 4 x 2, on
//           current cores; few enough to fit AVX2's 16 registers with the two operands), 256-bit
//           (AVX2+FMA) and, when the CPU has it, 512-bit (AVX-512F) -> flops per second and,
//           divided by the clock, flops per cycle: 2 pipes x 8 floats x 2 = 32 on a core with
//           two 256-bit FMA pipes (Zen 4 splits a 512-bit FMA over both), 64 where each of two
//           pipes takes a whole 512-bit FMA.
// Each figure is the best of many short trials: on a shared machine a trial can only lose time
// (preemption), never gain it, so the maximum is the cleanest estimate. With --threads T the
// FMA loop runs on T threads at once (the whole-machine peak). Prints one JSON object.
//
//   bench_peak [--threads T]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Adds per second of a dependent chain: 100 adds per iteration, each waiting for the last.
// Inline asm keeps the compiler from folding the chain into one add.
double add_chain_rate(std::uint64_t iterations) {
  std::uint64_t x = 0;
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < iterations; ++i) {
    asm volatile(
        ".rept 100\n\t"
        "add $1, %0\n\t"
        ".endr"
        : "+r"(x));
  }
  const double s = since(t0);
  if (x != iterations * 100) std::abort();  // the chain ran as written
  return double(iterations) * 100.0 / s;
}

constexpr int kAcc = 12;

// The FMA loops are compiled for their ISA with target attributes and called only after
// __builtin_cpu_supports says the CPU has it (the library's kernels do the same per ISA file).
#define CNN_FMA_BODY(VEC, SET1, FMA, ADD, STORE, WIDTH)                                 \
  VEC acc[kAcc];                                                                        \
  for (int j = 0; j < kAcc; ++j) acc[j] = SET1(0.0f);                                   \
  const VEC a = SET1(0.999f), b = SET1(0.001f);                                         \
  for (std::uint64_t i = 0; i < iterations; ++i) {                                      \
    _Pragma("GCC unroll 12") for (int j = 0; j < kAcc; ++j) acc[j] = FMA(acc[j], a, b); \
  }                                                                                     \
  VEC sum = acc[0];                                                                     \
  for (int j = 1; j < kAcc; ++j) sum = ADD(sum, acc[j]);                                \
  alignas(64) float out[WIDTH];                                                         \
  STORE(out, sum);                                                                      \
  return out[0];

__attribute__((target("avx2,fma"))) float fma_loop_256(std::uint64_t iterations) {
  CNN_FMA_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_store_ps, 8)
}

__attribute__((target("avx512f"))) float fma_loop_512(std::uint64_t iterations) {
  CNN_FMA_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_store_ps, 16)
}

#undef CNN_FMA_BODY

// Flops per second of fma_loop_<width> on `threads` threads at once (kAcc accumulators x width
// floats x 2 flops per iteration). Each thread keeps the best of its own `trials` short trials,
// while the others run theirs; the machine's rate is the sum of the threads' best.
double fma_rate(int width, int threads, std::uint64_t iterations, int trials) {
  const double flops = double(iterations) * kAcc * (width / 32) * 2.0;
  auto best_of_trials = [&] {
    double best = 0;
    for (int t = 0; t < trials; ++t) {
      const auto t0 = Clock::now();
      const float r = width == 512 ? fma_loop_512(iterations) : fma_loop_256(iterations);
      best = std::max(best, flops / since(t0));
      if (r != r) std::abort();  // uses the result, so the loop is not removed
    }
    return best;
  };
  std::vector<double> best(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k)
    pool.emplace_back([&, k] { best[static_cast<std::size_t>(k)] = best_of_trials(); });
  best[0] = best_of_trials();
  for (auto& th : pool) th.join();
  double sum = 0;
  for (double b : best) sum += b;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1 || v > 1024) {
        std::fprintf(stderr, "bench_peak: --threads needs a number in [1, 1024]\n");
        return 2;
      }
      threads = int(v);
    } else {
      std::fprintf(stderr, "usage: bench_peak [--threads T]\n");
      return 2;
    }
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "bench_peak: this CPU has no AVX2+FMA\n");
    return 1;
  }
  const bool has512 = __builtin_cpu_supports("avx512f");

  // Warm up (the clock ramps up under load), then the best of many trials of about 0.3 ms
  // each: short enough that some run between two preemptions of a busy machine.
  add_chain_rate(5'000'000);
  double hz = 0;
  for (int t = 0; t < 400; ++t) hz = std::max(hz, add_chain_rate(10'000));

  const std::uint64_t n256 = 60'000, n512 = 30'000;  // ~1M cycles per trial at full rate
  const double f256_1 = fma_rate(256, 1, n256, 300);
  const double f512_1 = has512 ? fma_rate(512, 1, n512, 300) : 0.0;
  const double f256_t = threads > 1 ? fma_rate(256, threads, n256, 300) : f256_1;
  const double f512_t = has512 ? (threads > 1 ? fma_rate(512, threads, n512, 300) : f512_1) : 0.0;
  const double best_1 = std::max(f256_1, f512_1), best_t = std::max(f256_t, f512_t);

  std::printf(
      "{\"clock_ghz\": %.3f, \"avx512\": %s, \"threads\": %d, "
      "\"fma256_gflops_1thread\": %.1f, \"fma512_gflops_1thread\": %.1f, "
      "\"flops_per_cycle_256\": %.1f, \"flops_per_cycle_512\": %.1f, "
      "\"peak_gflops_1thread\": %.1f, \"peak_gflops_threads\": %.1f}\n",
      hz * 1e-9, has512 ? "true" : "false", threads, f256_1 * 1e-9, f512_1 * 1e-9, f256_1 / hz,
      f512_1 / hz, best_1 * 1e-9, best_t * 1e-9);
  return 0;
}
