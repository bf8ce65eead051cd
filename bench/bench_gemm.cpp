// bench_gemm: sgemm GFLOP/s of kernels::gemm (the active ISA) for square sizes and the GEMM shapes
// of the lecture's convnets, with 1 and 2 threads; next to OpenBLAS's cblas_sgemm when the build
// found it. Each figure is the median of 5 timed runs after >= 50 ms of warm-up (min-max shown).
//
//   bench_gemm [--quick] [--isa NAME]
//     --quick       fewer shapes, for a smoke run
//     --isa NAME    time that variant (sse2, avx2+fma, avx512, reference) instead of the active one
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "tensor/rng.hpp"

#ifdef CNN_BENCH_OPENBLAS
#include <cblas.h>
#endif

using cnn::kernels::Trans;

namespace {

struct Shape {
  std::string name;
  Trans ta, tb;
  std::size_t m, n, k;
};

struct Stat {
  double median, lo, hi;  // GFLOP/s
};

Stat summarize(std::vector<double> g) {
  std::sort(g.begin(), g.end());
  return {g[g.size() / 2], g.front(), g.back()};
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A library to time: setup (its thread count) runs just before its own runs.
struct Lib {
  std::function<void()> setup, run;
};

// Times each library: warm-up runs for at least 50 ms (page faults, packing buffers, worker start,
// and time for the OS to spread the threads over the cores), then 5 timed runs. One library after
// the other, with a pause between: OpenBLAS's idle workers keep polling for a while after a call
// (and after openblas_set_num_threads), and would take a core from the next library's threads.
std::vector<Stat> time_gflops(double flops, const std::vector<Lib>& libs) {
  std::vector<Stat> out;
  for (const auto& lib : libs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    lib.setup();
    for (double warm = 0; warm < 0.05;) warm += seconds(lib.run);
    std::vector<double> g;
    for (int r = 0; r < 5; ++r) g.push_back(flops / seconds(lib.run) * 1e-9);
    out.push_back(summarize(g));
  }
  return out;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? a + " " + b + " " + c : "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  cnn::kernels::Isa isa = cnn::kernels::active_isa();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
      const std::string want = argv[++i];
      bool found = false;
      for (auto cand : {cnn::kernels::Isa::Reference, cnn::kernels::Isa::Sse2,
                        cnn::kernels::Isa::Avx2, cnn::kernels::Isa::Avx512})
        if (cnn::kernels::isa_name(cand) == want) isa = cand, found = true;
      if (!found) {
        std::fprintf(stderr, "bench_gemm: unknown --isa %s\n", want.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: bench_gemm [--quick] [--isa NAME]\n");
      return 2;
    }
  }
  std::vector<Shape> shapes = {
      {"square 256", Trans::No, Trans::No, 256, 256, 256},
      {"square 512", Trans::No, Trans::No, 512, 512, 512},
      {"square 1024", Trans::No, Trans::No, 1024, 1024, 1024},
      {"square 2048", Trans::No, Trans::No, 2048, 2048, 2048},
      // Forward convolutions as im2col GEMMs: M = batch*H_out*W_out, N = filters, K = 3*3*C_in.
      {"mnist conv2 fwd (64x11x11, 64, 288)", Trans::No, Trans::No, 64 * 11 * 11, 64, 288},
      {"catsdogs conv (20x72x72, 64, 288)", Trans::No, Trans::No, 20 * 72 * 72, 64, 288},
      {"vgg block3 (20x37x37, 256, 2304)", Trans::No, Trans::No, 20 * 37 * 37, 256, 2304},
      // A 1x1 convolution with 16 filters (SqueezeNet's fire3 squeeze): one vector of columns.
      {"squeeze 1x1 (20x55x55, 16, 128)", Trans::No, Trans::No, 20 * 55 * 55, 16, 128},
      // The MNIST conv2 backward GEMMs: weight gradient (A^T B) and input gradient (A B^T).
      {"mnist conv2 dW (288, 64, 7744) TN", Trans::Yes, Trans::No, 288, 64, 64 * 11 * 11},
      {"mnist conv2 dX (7744, 288, 64) NT", Trans::No, Trans::Yes, 64 * 11 * 11, 288, 64},
  };
  if (quick) shapes = {shapes[0], shapes[4]};

  std::printf("bench_gemm: isa=%s, median of 5 runs (min-max), GFLOP/s = 2*m*n*k / s\n",
              cnn::kernels::isa_name(isa).c_str());
  std::printf("load average at start: %s (a busy machine lowers and scatters every figure)\n",
              loadavg().c_str());
#ifdef CNN_BENCH_OPENBLAS
  std::printf("%-38s %3s %22s %22s %6s\n", "shape (m, n, k)", "thr", "ours", "openblas", "ratio");
#else
  std::printf("%-38s %3s %22s\n", "shape (m, n, k)", "thr", "ours");
#endif
  cnn::Rng rng(1);
  for (const auto& s : shapes) {
    const std::size_t lda = s.ta == Trans::No ? s.k : s.m, ldb = s.tb == Trans::No ? s.n : s.k;
    std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
    for (auto& v : a) v = rng.uniform(-1, 1);
    for (auto& v : b) v = rng.uniform(-1, 1);
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    for (int threads : {1, 2}) {
      std::vector<Lib> libs = {{[&] { cnn::kernels::set_num_threads(threads); },
                                [&] {
                                  cnn::kernels::gemm_for(isa, s.ta, s.tb, s.m, s.n, s.k, 1.0f,
                                                         a.data(), lda, b.data(), ldb, 0.0f,
                                                         c.data(), s.n);
                                }}};
#ifdef CNN_BENCH_OPENBLAS
      libs.push_back({[&] { openblas_set_num_threads(threads); },
                      [&] {
                        cblas_sgemm(CblasRowMajor, s.ta == Trans::No ? CblasNoTrans : CblasTrans,
                                    s.tb == Trans::No ? CblasNoTrans : CblasTrans, int(s.m),
                                    int(s.n), int(s.k), 1.0f, a.data(), int(lda), b.data(),
                                    int(ldb), 0.0f, c.data(), int(s.n));
                      }});
#endif
      const std::vector<Stat> st = time_gflops(flops, libs);
      char col[64];
      std::snprintf(col, sizeof col, "%6.1f (%5.1f-%5.1f)", st[0].median, st[0].lo, st[0].hi);
#ifdef CNN_BENCH_OPENBLAS
      char col2[64];
      std::snprintf(col2, sizeof col2, "%6.1f (%5.1f-%5.1f)", st[1].median, st[1].lo, st[1].hi);
      std::printf("%-38s %3d %22s %22s %6.2f\n", s.name.c_str(), threads, col, col2,
                  st[0].median / st[1].median);
#else
      std::printf("%-38s %3d %22s\n", s.name.c_str(), threads, col);
#endif
      std::fflush(stdout);
    }
  }
  std::printf("load average at end: %s\n", loadavg().c_str());
  return 0;
}
