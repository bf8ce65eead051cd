// The processes of one job: data-parallel training and sharded inference over MPI (Open MPI from
// Debian, launched by mpirun, srun or a PBS launcher). A program started without a launcher is one
// process, size 1, and every call here is then a copy or nothing, so the programs run exactly as
// without MPI. MPI is an optional build feature (CMake -DCNN_MPI=ON, the default when Open MPI is
// found); its headers stay inside dist's .cpp files.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cnn::dist {

class Comm {
 public:
  // The job's processes, set up on first use: under a launcher (mpirun's OMPI_COMM_WORLD_SIZE,
  // srun's PMIX_RANK / PMI_RANK) MPI is initialised, with its finalisation at exit. Throws Error
  // when a launcher started several processes of a build without MPI, which would otherwise
  // each do the whole job.
  static Comm& world();
  // world() if it has been set up, else nullptr (nothing is started).
  static Comm* started();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // Whether the job has several processes (MPI calls happen).
  bool parallel() const { return size_ > 1; }

  // data[0..n) becomes the sum over the processes, the same bits on every process, and the
  // same bits on every rerun with the same number of processes: each bucket of kBucket values
  // is gathered from every process and summed in rank order, ((x_0 + x_1) + x_2) + ..., never in
  // the order messages happen to arrive.
  void allreduce_sum(float* data, std::size_t n);
  static constexpr std::size_t kBucket = std::size_t{1} << 20;

  // The same for doubles (metric sums): gathered whole and summed in rank order.
  void allreduce_sum(double* data, std::size_t n);

  // Every process's `bytes` bytes at mine, in rank order, into all (size() * bytes).
  void allgather(const void* mine, std::size_t bytes, void* all);
  // Every process's values, of any count, concatenated in rank order.
  std::vector<double> allgather(const std::vector<double>& mine);

  // Every process's bytes, in rank order, at the root; an empty list elsewhere.
  std::vector<std::string> gather(const std::string& mine, int root = 0);

  // The root's bytes to every process.
  void broadcast(void* data, std::size_t bytes, int root = 0);
  void barrier();
  // Ends every process of the job with code (MPI_Abort), after this one's message; a plain
  // exit without a launcher.
  [[noreturn]] void abort(int code);

  // "rank 1 of 4", for messages; "" for a single process.
  std::string where() const;

 private:
  Comm();
  int rank_ = 0, size_ = 1;
};

// Whether this build has MPI.
bool built_with_mpi();

// The one order of every sum over processes here: out[i] = ((parts[0][i] + parts[1][i]) +
// parts[2][i]) + ... for parts laid out [k][n] by rank (out may be parts[0]).
template <class T>
void add_in_rank_order(const T* parts, std::size_t k, std::size_t n, T* out) {
  for (std::size_t i = 0; i < n; ++i) {
    T sum = parts[i];
    for (std::size_t r = 1; r < k; ++r) sum += parts[r * n + i];
    out[i] = sum;
  }
}

}  // namespace cnn::dist
