// The Batcher: per-epoch seeded shuffles, a ring of prefetched batches filled sample by sample
// by worker threads, and deterministic error reporting.
#include "data/batcher.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "dist/comm.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

namespace cnn::data {
namespace {

// splitmix64's finaliser: derives independent seeds from (seed, epoch, position).
std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t epoch_seed(std::uint64_t seed, std::size_t epoch) {
  return mix64(mix64(seed) ^ static_cast<std::uint64_t>(epoch));
}

}  // namespace

void shard_over_processes(BatcherOptions& o, bool by_batches) {
  const dist::Comm& comm = dist::Comm::world();
  o.shard_rank = static_cast<std::size_t>(comm.rank());
  o.shard_count = static_cast<std::size_t>(comm.size());
  o.shard_by_batches = by_batches;
}

Batcher::Batcher(const Dataset& dataset, BatcherOptions options) : ds_(dataset), opt_(options) {
  if (opt_.batch_size == 0) throw InputError("batcher", "batch_size is 0; expected at least 1");
  opt_.prefetch = std::max<std::size_t>(2, opt_.prefetch);
  sample_shape_ = ds_.sample_shape();
  numel_ = numel(sample_shape_);
  const std::size_t n = ds_.epoch_block() ? std::min(ds_.epoch_block(), ds_.size()) : ds_.size();
  steps_ = (n + opt_.batch_size - 1) / opt_.batch_size;
  if (opt_.steps_per_epoch) steps_ = std::min(steps_, *opt_.steps_per_epoch);
  samples_ = std::min(n, steps_ * opt_.batch_size);
  if (opt_.shard_count == 0 || opt_.shard_rank >= opt_.shard_count)
    throw InputError("batcher", "shard " + std::to_string(opt_.shard_rank) + " of " +
                                    std::to_string(opt_.shard_count) + " does not exist");
  step_end_ = steps_;
  if (opt_.shard_by_batches) {
    step_begin_ = steps_ * opt_.shard_rank / opt_.shard_count;
    step_end_ = steps_ * (opt_.shard_rank + 1) / opt_.shard_count;
  }

  if (opt_.threads == 0) return;
  slots_.resize(opt_.prefetch);
  const std::size_t slot_samples = std::min(opt_.batch_size, std::max<std::size_t>(1, n));
  for (Slot& s : slots_) {
    s.x.resize(slot_samples * numel_);
    s.labels.resize(slot_samples);
    s.indices.resize(slot_samples);
  }
  workers_.reserve(opt_.threads);
  try {
    for (std::size_t t = 0; t < opt_.threads; ++t) workers_.emplace_back([this] { worker(); });
  } catch (...) {
    stop_workers();
    throw;
  }
}

Batcher::~Batcher() { stop_workers(); }

void Batcher::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

std::vector<std::size_t> Batcher::epoch_order(std::size_t epoch) const {
  const std::size_t block = std::min(ds_.epoch_block(), ds_.size());
  std::vector<std::size_t> order(block ? block : ds_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (block) {
    const std::size_t first = (epoch * block) % (ds_.size() - ds_.size() % block);
    for (auto& i : order) i += first;
  }
  if (!opt_.shuffle || order.size() < 2) return order;
  // Fisher-Yates, from the last position down.
  Rng rng(epoch_seed(opt_.seed, epoch));
  for (std::size_t i = order.size() - 1; i > 0; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

std::size_t Batcher::batch_samples(std::size_t b) const {
  if (b >= steps_) return 0;
  return std::min(opt_.batch_size, samples_ - b * opt_.batch_size);
}

std::pair<std::size_t, std::size_t> Batcher::local_part(std::size_t b) const {
  const std::size_t n = b >= step_begin_ && b < step_end_ ? batch_samples(b) : 0;
  if (opt_.shard_by_batches || opt_.shard_count == 1) return {b * opt_.batch_size, n};
  const std::size_t lo = n * opt_.shard_rank / opt_.shard_count;
  const std::size_t hi = n * (opt_.shard_rank + 1) / opt_.shard_count;
  return {b * opt_.batch_size + lo, hi - lo};
}

void Batcher::advance_take() {
  ++take_k_;
  while (take_batch_ < step_end_ && take_k_ >= local_part(take_batch_).second) {
    ++take_batch_;
    take_k_ = 0;
  }
}

std::uint64_t Batcher::sample_seed(std::size_t position) const {
  return mix64(epoch_seed(opt_.seed, epoch_) ^ mix64(static_cast<std::uint64_t>(position)));
}

void Batcher::load_sample(std::size_t position, float* dst, std::int32_t& label) const {
  ds_.load(order_[position], dst, label, sample_seed(position));
}

void Batcher::reset_slot(Slot& s, std::size_t b) {
  s.batch = b;
  s.size = local_part(b).second;
  s.done = 0;
  s.error = nullptr;
  s.error_pos = 0;
}

void Batcher::start_epoch(std::size_t epoch) {
  std::unique_lock<std::mutex> lk(m_);
  // Drain: no new samples, wait for the ones being decoded.
  active_ = false;
  ready_cv_.wait(lk, [this] { return busy_ == 0; });
  epoch_ = epoch;
  started_ = true;
  order_ = epoch_order(epoch);
  consumed_ = step_begin_;
  take_batch_ = step_begin_;
  take_k_ = static_cast<std::size_t>(-1);
  advance_take();  // to the first sample of the first batch this process loads any of
  for (std::size_t b = step_begin_; b < step_begin_ + slots_.size(); ++b)
    reset_slot(slots_[b % slots_.size()], b);
  active_ = true;
  lk.unlock();
  work_cv_.notify_all();
}

bool Batcher::can_take() const {
  if (!active_ || take_batch_ >= step_end_) return false;
  // The sample's batch must fit in the ring: at most prefetch batches ahead of the consumer.
  return take_batch_ < consumed_ + slots_.size();
}

void Batcher::worker() {
  std::unique_lock<std::mutex> lk(m_);
  for (;;) {
    work_cv_.wait(lk, [this] { return stop_ || can_take(); });
    if (stop_) return;
    const std::size_t b = take_batch_, k = take_k_;
    const std::size_t pos = local_part(b).first + k;
    advance_take();
    Slot& slot = slots_[b % slots_.size()];
    ++busy_;
    lk.unlock();
    // The slot's sample k belongs to this worker alone until it reports done.
    std::int32_t label = 0;
    std::exception_ptr error;
    try {
      load_sample(pos, slot.x.data() + k * numel_, label);
    } catch (...) {
      error = std::current_exception();
    }
    lk.lock();
    slot.labels[k] = label;
    slot.indices[k] = order_[pos];
    if (error && (!slot.error || k < slot.error_pos)) {
      slot.error = error;
      slot.error_pos = k;
    }
    --busy_;
    ++slot.done;
    if (slot.done == slot.size || busy_ == 0) ready_cv_.notify_all();
  }
}

bool Batcher::next(Batch& out) {
  if (!started_) start_epoch(0);
  if (consumed_ >= step_end_) return false;
  const std::size_t b = consumed_;
  const auto [first_pos, n] = local_part(b);
  ensure_shape(out.x, batch_shape(n, sample_shape_));
  out.labels.resize(n);
  out.indices.resize(n);
  out.size = n;
  out.step = b;
  out.epoch = epoch_;
  out.first = first_pos - b * opt_.batch_size;
  out.batch_samples = batch_samples(b);

  if (workers_.empty()) {  // threads == 0: decode here
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t pos = first_pos + k;
      load_sample(pos, out.x.data() + k * numel_, out.labels[k]);
      out.indices[k] = order_[pos];
    }
    ++consumed_;
    return true;
  }

  Slot& slot = slots_[b % slots_.size()];
  {
    std::unique_lock<std::mutex> lk(m_);
    ready_cv_.wait(lk, [&] { return slot.done == slot.size; });
  }
  // All of the slot's samples are finished and no worker may touch it until consumed_ grows.
  if (slot.error) std::rethrow_exception(slot.error);
  std::memcpy(out.x.data(), slot.x.data(), n * numel_ * sizeof(float));
  std::copy_n(slot.labels.begin(), n, out.labels.begin());
  std::copy_n(slot.indices.begin(), n, out.indices.begin());
  {
    std::lock_guard<std::mutex> lk(m_);
    reset_slot(slot, b + slots_.size());
    ++consumed_;
  }
  work_cv_.notify_all();
  return true;
}

void labels_to_targets(const std::vector<std::int32_t>& labels, std::size_t n, ClassMode mode,
                       std::size_t num_classes, Tensor& y) {
  if (n > labels.size())
    throw DataError("labels", "batch of " + std::to_string(n) + " samples has only " +
                                  std::to_string(labels.size()) + " labels");
  for (std::size_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= num_classes)
      throw DataError("labels", "label " + std::to_string(labels[i]) + " of batch sample " +
                                    std::to_string(i) + " is out of range; expected 0.." +
                                    std::to_string(num_classes == 0 ? 0 : num_classes - 1));
  }
  switch (mode) {
    case ClassMode::categorical:
      ensure_shape(y, {n, num_classes});
      std::fill(y.begin(), y.end(), 0.0f);
      for (std::size_t i = 0; i < n; ++i)
        y.data()[i * num_classes + static_cast<std::size_t>(labels[i])] = 1.0f;
      return;
    case ClassMode::binary:
      ensure_shape(y, {n, 1});
      for (std::size_t i = 0; i < n; ++i) y.data()[i] = static_cast<float>(labels[i]);
      return;
    case ClassMode::sparse:
      ensure_shape(y, {n});
      for (std::size_t i = 0; i < n; ++i) y.data()[i] = static_cast<float>(labels[i]);
      return;
  }
}

}  // namespace cnn::data
