// Data-parallel training's gradient sum: the parts of the gradient arena that train are summed
// over the job's processes in fixed-size buckets, each started as soon as the backward pass has
// finished the layers it covers, so that the communication overlaps the rest of backward (as
// PyTorch DDP's and Horovod's bucketed allreduce do).
//
// Each bucket is summed deterministically, with the same bits as Comm::allreduce_sum: it is cut
// into one chunk per process; every process receives its chunk from all the others
// (MPI_Ialltoallv), adds them in rank order, ((x_0 + x_1) + x_2) + ..., and the summed chunks are
// gathered back to everyone (MPI_Iallgatherv). That is a reduce-scatter and an allgather, the
// two halves of a ring allreduce: each process sends and receives 2 (K - 1) / K of the bucket,
// whatever K is. The buckets and their chunks depend only on the arena and K, and the sum's
// order only on rank numbers, never on the order in which messages arrive: the same K gives the
// same bits on every rerun.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "dist/comm.hpp"

namespace cnn::dist {

class GradientSync {
 public:
  // ranges: [begin, end) float offsets of the arena to sum, sorted and disjoint (the trainable
  // parameters); bucket: floats per bucket (the last of a range may be shorter).
  GradientSync(Comm& comm, std::vector<std::pair<std::size_t, std::size_t>> ranges,
               std::size_t bucket = kDefaultBucket);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // One step's backward starts; grads is the arena (the same every step or not).
  void begin(float* grads);
  // grads[offset..) is final for this step: start every bucket inside it not yet started, and
  // move the started ones on (the main thread's MPI calls are what drives them).
  void ready_from(std::size_t offset);
  // Starts what is left and waits for everything: the ranges of grads hold the sums.
  void finish();

  // Seconds in finish() waiting for communication that backward did not hide, and in
  // ready_from() (starting buckets, adding received chunks), summed since the last reset.
  struct Timing {
    double wait_s = 0, overlap_s = 0;
    std::size_t steps = 0;
  };
  const Timing& timing() const { return timing_; }
  void reset_timing() { timing_ = {}; }

  std::size_t buckets() const { return buckets_.size(); }
  static constexpr std::size_t kDefaultBucket = std::size_t{1} << 18;  // 1 MiB of floats

 private:
  struct Bucket {
    std::size_t begin = 0, size = 0;  // arena offset and floats
    std::size_t scratch = 0;          // where its received chunks go in scratch_
  };
  // Chunk c of a bucket of n floats: [n * c / K, n * (c + 1) / K).
  std::size_t chunk_lo(std::size_t n, std::size_t c) const;
  void start_reduce(std::size_t j);
  void start_gather(std::size_t j);  // after bucket j's chunks arrived: add them, gather
  void progress(bool wait);

  Comm& comm_;
  std::vector<Bucket> buckets_;  // in the order they start: from the arena's end backwards
  std::vector<float> scratch_;
  float* grads_ = nullptr;
  std::size_t started_ = 0, gathering_ = 0;  // buckets started; buckets whose gather started
  struct Requests;
  std::unique_ptr<Requests> req_;
  Timing timing_;
};

}  // namespace cnn::dist
