// See comm.hpp. With CNN_HAVE_MPI the job is MPI_COMM_WORLD; without, one process.
#include "dist/comm.hpp"

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

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

void Comm::allreduce_sum(float* data, std::size_t n) {
  if (size_ == 1 || n == 0) return;
#ifdef CNN_HAVE_MPI
  const auto k = static_cast<std::size_t>(size_);
  std::vector<float> all(k * std::min(n, kBucket));
  for (std::size_t at = 0; at < n; at += kBucket) {
    const std::size_t len = std::min(kBucket, n - at);
    MPI_Allgather(data + at, static_cast<int>(len), MPI_FLOAT, all.data(), static_cast<int>(len),
                  MPI_FLOAT, MPI_COMM_WORLD);
    for (std::size_t i = 0; i < len; ++i) {
      float sum = all[i];
      for (std::size_t r = 1; r < k; ++r) sum += all[r * len + i];
      data[at + i] = sum;
    }
  }
#endif
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
