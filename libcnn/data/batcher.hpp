// Epochs of mini-batches over a Dataset: a seeded shuffle per epoch, background decoding on
// worker threads into a bounded ring of batches, and output that does not depend on the
// number of threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "data/dataset.hpp"
#include "tensor/tensor.hpp"

namespace cnn::data {

struct BatcherOptions {
  std::size_t batch_size = 32;  // >= 1
  bool shuffle = true;          // false: samples in dataset order
  std::uint64_t seed = 0;       // with the epoch number, fixes the order of every epoch
  // Decoding threads. 0 decodes in next() on the caller's thread (no prefetching).
  std::size_t threads = 1;
  // Batches decoded ahead of the consumer (at least 2).
  std::size_t prefetch = 2;
  // Stop an epoch after this many batches (Keras steps_per_epoch); nullopt or a larger value
  // means every batch, the last one possibly partial.
  std::optional<std::size_t> steps_per_epoch;
  // This process's part of every epoch in a job of shard_count processes (dist::Comm). By
  // samples: every batch is split into contiguous parts by the fixed rule
  // [n * rank / count, n * (rank + 1) / count) of its n samples, and next() hands out this
  // process's part of each batch (possibly empty) with the batch's step; the samples, their
  // order and their augmentation draws are those of the one-process batch. By batches: the
  // epoch's steps are split the same way, and next() hands out whole batches of this process's
  // contiguous range of steps only.
  std::size_t shard_rank = 0, shard_count = 1;
  bool shard_by_batches = false;
};

// Sets options to this process's part of the job's processes (dist::Comm::world()): by the
// samples of every batch (data-parallel training) or by contiguous ranges of batches (sharded
// inference). With one process it changes nothing.
void shard_over_processes(BatcherOptions& options, bool by_batches);

// One mini-batch. next() reuses the buffers, so x keeps its storage while its shape holds.
struct Batch {
  Tensor x;                          // [n, h, w, c]
  std::vector<std::int32_t> labels;  // [n] class indices
  std::vector<std::size_t> indices;  // [n] the samples' dataset indices
  std::size_t size = 0;              // n: batch_size, or fewer for an epoch's last batch
  // With BatcherOptions::shard_count > 1 and sharding by samples, x holds this process's part:
  // samples [first, first + size) of the whole batch's batch_samples.
  std::size_t first = 0, batch_samples = 0;
  std::size_t step = 0;  // position of the batch in its epoch, from 0
  std::size_t epoch = 0;
};

// Iterates a dataset in epochs:
//   Batcher b(ds, opts);
//   for (std::size_t e = 0; e < epochs; ++e) { b.start_epoch(e); while (b.next(batch)) ...; }
// Epoch e's order is a Fisher-Yates shuffle drawn from cnn::Rng seeded by (seed, e) alone, so
// a run resumed at epoch e sees the same order as an uninterrupted one. Each sample is decoded
// by one worker straight into its slot in the batch, so the batches are byte-identical for
// any number of threads. A sample that fails to load makes next() rethrow its exception on
// the consumer's thread when that batch is reached (the first failing sample of the batch),
// and again on every further next() of the epoch; start_epoch() starts over.
// The dataset must outlive the Batcher. Destroying the Batcher mid-epoch stops the workers
// after the samples they are decoding.
class Batcher {
 public:
  // Throws InputError for batch_size 0.
  Batcher(const Dataset& dataset, BatcherOptions options);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Batches per epoch (the last may be partial; steps_per_epoch caps it), over every process.
  std::size_t steps_per_epoch() const { return steps_; }
  // The steps next() hands out in an epoch: [first_step(), end_step()); all of them unless
  // sharding by batches.
  std::size_t first_step() const { return step_begin_; }
  std::size_t end_step() const { return step_end_; }
  // Samples per epoch (dataset size, or fewer with steps_per_epoch).
  std::size_t samples_per_epoch() const { return samples_; }

  // Starts epoch e (abandoning the current one, if any) and begins decoding its batches.
  // next() without a start_epoch() starts epoch 0.
  void start_epoch(std::size_t epoch);

  // Fills out with the epoch's next batch and returns true, or returns false when the epoch
  // is over. Rethrows a worker's exception (see the class comment).
  bool next(Batch& out);

  // The sample order of epoch e (what start_epoch uses): a permutation of 0..size-1, or the
  // identity without shuffling.
  std::vector<std::size_t> epoch_order(std::size_t epoch) const;

 private:
  struct Slot {
    std::vector<float> x;  // batch_size samples
    std::vector<std::int32_t> labels;
    std::vector<std::size_t> indices;
    std::size_t batch = 0;     // which batch of the epoch it holds
    std::size_t size = 0;      // samples in that batch
    std::size_t done = 0;      // samples finished (loaded or failed)
    std::exception_ptr error;  // the failure of the earliest sample in the batch
    std::size_t error_pos = 0;
  };

  void worker();
  bool can_take() const;
  std::size_t batch_samples(std::size_t b) const;
  // Epoch positions [first, first + count) of batch b that this process loads.
  std::pair<std::size_t, std::size_t> local_part(std::size_t b) const;
  void advance_take();
  void reset_slot(Slot& s, std::size_t b);
  std::uint64_t sample_seed(std::size_t position) const;
  void load_sample(std::size_t position, float* dst, std::int32_t& label) const;
  void stop_workers();

  const Dataset& ds_;
  BatcherOptions opt_;
  Shape sample_shape_;
  std::size_t numel_ = 0;
  std::size_t steps_ = 0, samples_ = 0;
  std::size_t step_begin_ = 0, step_end_ = 0;

  // Epoch state. order_, epoch_ and the slots' metadata change only while no worker is busy.
  std::vector<std::size_t> order_;
  std::size_t epoch_ = 0;
  bool started_ = false;
  std::size_t consumed_ = 0;                 // batches handed out this epoch
  std::size_t take_batch_ = 0, take_k_ = 0;  // the next sample a worker takes: batch, position
  std::size_t busy_ = 0;                     // workers loading a sample now
  bool active_ = false;                      // workers may take samples
  bool stop_ = false;
  std::vector<Slot> slots_;

  std::mutex m_;
  std::condition_variable work_cv_;   // workers wait for samples to take
  std::condition_variable ready_cv_;  // the consumer waits for batches / idle workers
  std::vector<std::thread> workers_;
};

// Turns labels into a training target tensor for a class mode: categorical one-hot
// [n, num_classes]; binary [n, 1] of 0/1; sparse [n] of class indices (as floats).
// Throws DataError for a label outside 0..num_classes-1.
void labels_to_targets(const std::vector<std::int32_t>& labels, std::size_t n, ClassMode mode,
                       std::size_t num_classes, Tensor& y);

}  // namespace cnn::data
