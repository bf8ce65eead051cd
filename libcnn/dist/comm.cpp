// See comm.hpp. With CNN_HAVE_MPI the job is MPI_COMM_WORLD; without, one process.
#include "dist/comm.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tensor/error.hpp"

#ifdef CNN_HAVE_MPI
#include <mpi.h>
#endif

namespace cnn::dist {
namespace {

// The number of processes a launcher says it started (0: no launcher).
int launched_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    if (const char* v = std::getenv(var)) {
      // SLURM_NTASKS alone (an sbatch script's shell, no srun) does not make this an MPI process.
      if (std::strcmp(var, "SLURM_NTASKS") == 0 && !std::getenv("SLURM_PROCID")) continue;
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 0;
}

#ifdef CNN_HAVE_MPI
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

}  // namespace

bool built_with_mpi() {
#ifdef CNN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Comm::Comm() {
  const int launched = launched_size();
#ifdef CNN_HAVE_MPI
  if (launched > 0) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    std::atexit(finalize_at_exit);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
#else
  if (launched > 1)
    throw Error("started as one of " + std::to_string(launched) +
                " processes, but this build has no MPI (configure with -DCNN_MPI=ON and Open "
                "MPI installed); each process would do the whole job");
#endif
}

namespace {
Comm* g_world = nullptr;
}  // namespace

Comm& Comm::world() {
  static Comm comm;
  g_world = &comm;
  return comm;
}

Comm* Comm::started() { return g_world; }

void Comm::allreduce_sum(float* data, std::size_t n) {
  if (size_ == 1 || n == 0) return;
  const auto k = static_cast<std::size_t>(size_);
  std::vector<float> all(k * std::min(n, kBucket));
  for (std::size_t at = 0; at < n; at += kBucket) {
    const std::size_t len = std::min(kBucket, n - at);
    allgather(data + at, len * sizeof(float), all.data());
    add_in_rank_order(all.data(), k, len, data + at);
  }
}

void Comm::allreduce_sum(double* data, std::size_t n) {
  if (size_ == 1 || n == 0) return;
  std::vector<double> all(static_cast<std::size_t>(size_) * n);
  allgather(data, n * sizeof(double), all.data());
  add_in_rank_order(all.data(), static_cast<std::size_t>(size_), n, data);
}

void Comm::allgather(const void* mine, std::size_t bytes, void* all) {
  if (size_ == 1) {
    if (bytes) std::memcpy(all, mine, bytes);
    return;
  }
#ifdef CNN_HAVE_MPI
  if (bytes > std::size_t{1} << 30)
    throw Error("allgather of " + std::to_string(bytes) + " bytes per process: more than 1 GiB");
  MPI_Allgather(mine, static_cast<int>(bytes), MPI_BYTE, all, static_cast<int>(bytes), MPI_BYTE,
                MPI_COMM_WORLD);
#endif
}

std::vector<double> Comm::allgather(const std::vector<double>& mine) {
  if (size_ == 1) return mine;
  const auto k = static_cast<std::size_t>(size_);
  std::vector<std::uint64_t> counts(k);
  const std::uint64_t n = mine.size();
  allgather(&n, sizeof n, counts.data());
  std::vector<double> all;
#ifdef CNN_HAVE_MPI
  std::vector<int> recv(k), displ(k);
  std::size_t total = 0;
  for (std::size_t r = 0; r < k; ++r) {
    recv[r] = static_cast<int>(counts[r]);
    displ[r] = static_cast<int>(total);
    total += counts[r];
  }
  all.resize(total);
  MPI_Allgatherv(mine.data(), static_cast<int>(n), MPI_DOUBLE, all.data(), recv.data(),
                 displ.data(), MPI_DOUBLE, MPI_COMM_WORLD);
#endif
  return all;
}

std::vector<std::string> Comm::gather(const std::string& mine, int root) {
  if (size_ == 1) return {mine};
  std::vector<std::string> out;
#ifdef CNN_HAVE_MPI
  const auto k = static_cast<std::size_t>(size_);
  if (mine.size() > std::size_t{1} << 30)
    throw Error("gather of " + std::to_string(mine.size()) +
                " bytes from one process: more than 1 GiB");
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(k), displs(k);
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  std::vector<char> all;
  if (rank_ == root) {
    std::size_t total = 0;
    for (std::size_t r = 0; r < k; ++r) {
      displs[r] = static_cast<int>(total);
      total += static_cast<std::size_t>(counts[r]);
    }
    if (total > std::size_t{1} << 31)
      throw Error("gather of " + std::to_string(total) + " bytes: more than 2 GiB");
    all.resize(std::max<std::size_t>(total, 1));
  }
  MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, root,
              MPI_COMM_WORLD);
  if (rank_ == root)
    for (std::size_t r = 0; r < k; ++r)
      out.emplace_back(all.data() + displs[r], static_cast<std::size_t>(counts[r]));
#else
  (void)root;
#endif
  return out;
}

void Comm::broadcast(void* data, std::size_t bytes, int root) {
  if (size_ == 1) return;
#ifdef CNN_HAVE_MPI
  auto* p = static_cast<char*>(data);
  constexpr std::size_t kChunk = std::size_t{1} << 30;  // MPI counts are int
  for (std::size_t at = 0; at < bytes; at += kChunk)
    MPI_Bcast(p + at, static_cast<int>(std::min(kChunk, bytes - at)), MPI_BYTE, root,
              MPI_COMM_WORLD);
#else
  (void)data;
  (void)bytes;
  (void)root;
#endif
}

void Comm::barrier() {
#ifdef CNN_HAVE_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void Comm::abort(int code) {
#ifdef CNN_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

std::string Comm::where() const {
  return size_ > 1 ? "rank " + std::to_string(rank_) + " of " + std::to_string(size_) : "";
}

}  // namespace cnn::dist
