// dist::Comm under a launcher (tests/cli/mpi.sh runs it with mpirun -np 2 and 3) and without one:
// the sum of every process's values is the same bits on every process and equals the sum taken
// in rank order here, across bucket boundaries; broadcast gives the root's bytes. Each process
// can make every other's values (a seeded generator per rank), so it checks on its own. The same
// for GradientSync, data-parallel training's bucketed sum, which must give the same bits.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "dist/comm.hpp"
#include "dist/grad_sync.hpp"

namespace {

std::vector<float> values_of(int rank, std::size_t n) {
  std::mt19937 gen(1234u + static_cast<unsigned>(rank));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen) * (1 + rank * 1000.0f);  // magnitudes that make the order matter
  return v;
}

}  // namespace

int main() {
  cnn::dist::Comm& comm = cnn::dist::Comm::world();
  const std::size_t n = 2 * cnn::dist::Comm::kBucket + 12345;  // two whole buckets and a tail
  std::vector<float> mine = values_of(comm.rank(), n);
  comm.allreduce_sum(mine.data(), n);
  std::vector<float> want = values_of(0, n);
  for (int r = 1; r < comm.size(); ++r) {
    const std::vector<float> other = values_of(r, n);
    for (std::size_t i = 0; i < n; ++i) want[i] += other[i];
  }
  if (std::memcmp(mine.data(), want.data(), n * sizeof(float)) != 0) {
    std::fprintf(stderr, "mpi_check: %s: the sum differs from the rank-order sum\n",
                 comm.where().c_str());
    return 1;
  }
  // GradientSync: two ranges of an arena (the gap between them, a frozen layer's, left alone),
  // small buckets so that there are many, started as a backward pass would make them ready.
  {
    const std::size_t arena = 50000, bucket = 4096;
    const std::vector<std::pair<std::size_t, std::size_t>> ranges = {{100, 20000}, {23000, 49999}};
    cnn::dist::GradientSync sync(comm, ranges, bucket);
    for (int step = 0; step < 3; ++step) {
      std::vector<float> grads = values_of(comm.rank() + 7 * step, arena);
      std::vector<float> expect = values_of(0 + 7 * step, arena);
      for (int r = 1; r < comm.size(); ++r) {
        const std::vector<float> other = values_of(r + 7 * step, arena);
        for (const auto& [b, e] : ranges)
          for (std::size_t i = b; i < e; ++i) expect[i] += other[i];
      }
      for (const auto& [b, e] : ranges)
        for (std::size_t i = b; i < e; ++i)
          if (comm.size() == 1) expect[i] = grads[i];
      const std::vector<float> before = grads;
      sync.begin(grads.data());
      for (std::size_t offset = arena; offset > 0; offset -= std::min<std::size_t>(offset, 3001))
        sync.ready_from(offset);
      sync.finish();
      for (std::size_t i = 0; i < arena; ++i) {
        bool inside = false;
        for (const auto& [b, e] : ranges) inside = inside || (i >= b && i < e);
        const float want_i = inside ? expect[i] : before[i];
        if (std::memcmp(&grads[i], &want_i, sizeof(float)) != 0) {
          std::fprintf(stderr,
                       "mpi_check: %s: GradientSync step %d: value %zu is %.9g, expected %.9g\n",
                       comm.where().c_str(), step, i, double(grads[i]), double(want_i));
          return 1;
        }
      }
    }
    if (sync.buckets() != 12) {  // 19,900 and 26,999 values: 5 and 7 buckets of 4,096 at most
      std::fprintf(stderr, "mpi_check: GradientSync made %zu buckets, expected 12\n",
                   sync.buckets());
      return 1;
    }
  }
  long token = comm.is_root() ? 20261204 : -1;
  comm.broadcast(&token, sizeof token);
  if (token != 20261204) {
    std::fprintf(stderr, "mpi_check: %s: broadcast gave %ld\n", comm.where().c_str(), token);
    return 1;
  }
  comm.barrier();
  if (comm.is_root())
    std::printf(
        "mpi_check: %d processes: the sum of %zu values is the rank-order sum on every "
        "process, and so are GradientSync's bucketed sums\n",
        comm.size(), n);
  return 0;
}
