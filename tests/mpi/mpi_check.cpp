// dist::Comm under a launcher (tests/cli/mpi.sh runs it with mpirun -np 2 and 3) and without one:
// the sum of every process's values is the same bits on every process and equals the sum taken
// in rank order here, across bucket boundaries; broadcast gives the root's bytes. Each process
// can make every other's values (a seeded generator per rank), so it checks on its own.
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "dist/comm.hpp"

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
        "process\n",
        comm.size(), n);
  return 0;
}
