// bench_allreduce: the time data-parallel training's gradient sum (dist::GradientSync, the
// buckets cnn-train uses) takes for arenas of given sizes, under mpirun, with nothing to overlap
// it: the cost a step pays when backward hides none of it. Each size is summed `repeats` times
// after a barrier; rank 0 prints one JSON line per size with the median and the best seconds.
// scripts/mpi_hosts.sh runs it between emulated hosts to fit the model of the README's table.
//
//   mpirun -np K bench_allreduce [--repeats R] [--gather] FLOATS...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "dist/grad_sync.hpp"

int main(int argc, char** argv) {
  std::size_t repeats = 10;
  bool gather = false;  // --gather: Comm::allreduce_sum (blocking MPI_Allgather) instead
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc)
      repeats = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--gather")
      gather = true;
    else
      sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  }
  if (sizes.empty() || repeats == 0) {
    std::fprintf(stderr, "usage: mpirun -np K bench_allreduce [--repeats R] FLOATS...\n");
    return 2;
  }
  cnn::dist::Comm& comm = cnn::dist::Comm::world();
  for (const std::size_t n : sizes) {
    std::vector<float> grads(n, 1.0f);
    cnn::dist::GradientSync sync(comm, {{0, n}});
    std::vector<double> seconds;
    for (std::size_t r = 0; r <= repeats; ++r) {  // the first is a warm-up
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      if (gather) {
        comm.allreduce_sum(grads.data(), n);
      } else {
        sync.begin(grads.data());
        sync.finish();
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) seconds.push_back(s);
      std::fill(grads.begin(), grads.end(), 1.0f);
    }
    // The slowest process decides a step: the maximum over processes of each repeat.
    std::vector<double> all(seconds.size() * static_cast<std::size_t>(comm.size()));
    comm.allgather(seconds.data(), seconds.size() * sizeof(double), all.data());
    for (std::size_t i = 0; i < seconds.size(); ++i)
      for (int p = 0; p < comm.size(); ++p)
        seconds[i] = std::max(seconds[i], all[static_cast<std::size_t>(p) * seconds.size() + i]);
    std::sort(seconds.begin(), seconds.end());
    if (comm.is_root())
      std::printf(
          "{\"processes\": %d, \"method\": \"%s\", \"floats\": %zu, \"bytes\": %zu, "
          "\"buckets\": %zu, \"median_s\": %.6g, \"best_s\": %.6g, \"repeats\": %zu}\n",
          comm.size(), gather ? "allgather" : "GradientSync", n, n * sizeof(float), sync.buckets(),
          seconds[seconds.size() / 2], seconds.front(), seconds.size());
  }
  return 0;
}
