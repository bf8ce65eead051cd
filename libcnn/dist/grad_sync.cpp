// See grad_sync.hpp. Without MPI (or with one process) every call is nothing.
#include "dist/grad_sync.hpp"

#include <algorithm>
#include <chrono>

#include "tensor/error.hpp"

#ifdef CNN_HAVE_MPI
#include <mpi.h>
#endif

namespace cnn::dist {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

struct GradientSync::Requests {
#ifdef CNN_HAVE_MPI
  std::vector<MPI_Request> reduce, gather;
  // MPI requires every process to start the collectives of a communicator in the same order.
  // A bucket's gather starts when its reduce-scatter is seen complete, which differs from
  // process to process relative to the next buckets' starts: the two kinds go on communicators
  // of their own, each in bucket order.
  MPI_Comm reduce_comm = MPI_COMM_NULL, gather_comm = MPI_COMM_NULL;
#endif
  // Per bucket, K counts and K displacements each, valid until the operations complete (MPI
  // reads them while a non-blocking collective runs): what this process sends (its chunks of
  // the bucket), receives (its own chunk from every process) and gathers (everyone's chunk).
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
};

GradientSync::GradientSync(Comm& comm, std::vector<std::pair<std::size_t, std::size_t>> ranges,
                           std::size_t bucket)
    : comm_(comm), req_(std::make_unique<Requests>()) {
  if (bucket == 0) throw Error("GradientSync: the bucket size is 0");
  const auto k = static_cast<std::size_t>(comm_.size());
  std::sort(ranges.begin(), ranges.end());
  std::size_t scratch = 0;
  for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
    for (std::size_t end = it->second; end > it->first;) {
      const std::size_t begin = end - std::min(bucket, end - it->first);
      Bucket b{begin, end - begin, scratch};
      const std::size_t n = b.size;
      const std::size_t mine = chunk_lo(n, comm_.rank() + 1) - chunk_lo(n, comm_.rank());
      for (std::size_t c = 0; c < k; ++c) {
        req_->send_counts.push_back(static_cast<int>(chunk_lo(n, c + 1) - chunk_lo(n, c)));
        req_->send_displs.push_back(static_cast<int>(chunk_lo(n, c)));
        req_->recv_counts.push_back(static_cast<int>(mine));
        req_->recv_displs.push_back(static_cast<int>(c * mine));
      }
      scratch += k * mine;
      buckets_.push_back(b);
      end = begin;
    }
  }
  if (comm_.parallel()) scratch_.resize(scratch);
#ifdef CNN_HAVE_MPI
  req_->reduce.assign(buckets_.size(), MPI_REQUEST_NULL);
  req_->gather.assign(buckets_.size(), MPI_REQUEST_NULL);
  if (comm_.parallel()) {
    MPI_Comm_dup(MPI_COMM_WORLD, &req_->reduce_comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &req_->gather_comm);
  }
#endif
}

GradientSync::~GradientSync() {
#ifdef CNN_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  // A step abandoned by an exception leaves its operations to the job's end (the error aborts
  // it): waiting for them here could wait for processes that never come.
  if (!finalized && !grads_) {
    if (req_->reduce_comm != MPI_COMM_NULL) MPI_Comm_free(&req_->reduce_comm);
    if (req_->gather_comm != MPI_COMM_NULL) MPI_Comm_free(&req_->gather_comm);
  }
#endif
}

std::size_t GradientSync::chunk_lo(std::size_t n, std::size_t c) const {
  return n * c / static_cast<std::size_t>(comm_.size());
}

void GradientSync::begin(float* grads) {
  grads_ = grads;
  started_ = gathering_ = 0;
}

void GradientSync::start_reduce(std::size_t j) {
#ifdef CNN_HAVE_MPI
  const Bucket& b = buckets_[j];
  const std::size_t at = j * static_cast<std::size_t>(comm_.size());
  MPI_Ialltoallv(grads_ + b.begin, req_->send_counts.data() + at, req_->send_displs.data() + at,
                 MPI_FLOAT, scratch_.data() + b.scratch, req_->recv_counts.data() + at,
                 req_->recv_displs.data() + at, MPI_FLOAT, req_->reduce_comm, &req_->reduce[j]);
#else
  (void)j;
#endif
}

void GradientSync::start_gather(std::size_t j) {
#ifdef CNN_HAVE_MPI
  const Bucket& b = buckets_[j];
  const auto k = static_cast<std::size_t>(comm_.size());
  const std::size_t at = j * k;
  const auto mine = static_cast<std::size_t>(req_->recv_counts[at]);
  const float* got = scratch_.data() + b.scratch;  // [k][mine], by sending rank
  add_in_rank_order(got, k, mine,
                    grads_ + b.begin + chunk_lo(b.size, static_cast<std::size_t>(comm_.rank())));
  MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, grads_ + b.begin,
                  req_->send_counts.data() + at, req_->send_displs.data() + at, MPI_FLOAT,
                  req_->gather_comm, &req_->gather[j]);
#else
  (void)j;
#endif
}

// Buckets move from their reduce-scatter to their gather strictly in order, so that every
// process starts its collectives in the same order (MPI requires it); the oldest test also
// drives the progress of the later ones.
void GradientSync::progress(bool wait) {
#ifdef CNN_HAVE_MPI
  while (gathering_ < started_) {
    MPI_Request& r = req_->reduce[gathering_];
    if (wait) {
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    } else {
      int done = 0;
      MPI_Test(&r, &done, MPI_STATUS_IGNORE);
      if (!done) return;
    }
    start_gather(gathering_++);
  }
  if (!wait && gathering_ > 0) {
    int done = 0;
    MPI_Testall(static_cast<int>(gathering_), req_->gather.data(), &done, MPI_STATUSES_IGNORE);
  }
#else
  (void)wait;
#endif
}

void GradientSync::ready_from(std::size_t offset) {
  if (!comm_.parallel() || !grads_) return;
  const auto t0 = std::chrono::steady_clock::now();
  while (started_ < buckets_.size() && buckets_[started_].begin >= offset) start_reduce(started_++);
  progress(false);
  timing_.overlap_s += seconds_since(t0);
}

void GradientSync::finish() {
  if (!comm_.parallel() || !grads_) return;
  const auto t0 = std::chrono::steady_clock::now();
  while (started_ < buckets_.size()) start_reduce(started_++);
  progress(true);
#ifdef CNN_HAVE_MPI
  MPI_Waitall(static_cast<int>(buckets_.size()), req_->gather.data(), MPI_STATUSES_IGNORE);
#endif
  timing_.wait_s += seconds_since(t0);
  ++timing_.steps;
  grads_ = nullptr;
}

}  // namespace cnn::dist
