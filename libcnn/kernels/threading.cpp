// The kernels' thread pool: num_threads() - 1 persistent workers plus the calling thread.
// Between jobs workers poll briefly (kSpin), then sleep on a condition variable.
#include "kernels/threading.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tensor/error.hpp"

namespace cnn::kernels {
namespace {

// True on a pool worker and on a caller while it runs a job: a parallel_for from there runs inline.
thread_local bool t_in_task = false;

std::size_t chunk_lo(std::size_t begin, std::size_t len, std::size_t t, std::size_t parts) {
  return begin + len * t / parts;
}

// Polling before sleeping. A futex wake-up costs tens of microseconds (far more on a loaded
// machine), as much as a whole 256^3 GEMM per thread, and the woken thread tends to be put on the
// waker's core, where it then competes with the next job for that core. So idle workers poll for
// kSpin after each job (back-to-back kernels, as in a training step, start at once), and the
// caller polls for kSpin for its workers to finish. Both yield while they poll, so a thread that
// shares their core on an oversubscribed machine is not held up.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls pred for up to kSpin; true when it held. Gives up the core every ~64 polls.
template <class Pred>
bool spin_until(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
}

// Up to `capacity` participants: the caller and capacity - 1 workers. A job with fewer parts leaves
// the last workers idle, so lowering the thread count and raising it again keeps the threads
// (and where the OS has placed them).
class Pool {
 public:
  explicit Pool(std::size_t capacity) : capacity_(capacity), errors_(capacity) {
    workers_.reserve(capacity_ - 1);
    for (std::size_t w = 1; w < capacity_; ++w) workers_.emplace_back([this, w] { work(w); });
  }

  ~Pool() {
    {
      std::lock_guard lock(mu_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::size_t capacity() const { return capacity_; }

  void run(std::size_t begin, std::size_t end, std::size_t parts, detail::ChunkFn fn, void* ctx) {
    // The job is written before job_ moves (release); workers read it after they see the new
    // job_ (acquire), and the caller touches it again only when pending_ is back to 0. Workers
    // outside the job (w >= parts) are not waited for, so they read nothing but job_.
    begin_ = begin;
    len_ = end - begin;
    parts_ = parts;
    fn_ = fn;
    ctx_ = ctx;
    for (auto& e : errors_) e = nullptr;
    pending_.store(parts - 1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);
      generation_ += 1;
      job_.store(generation_ << 16 | parts, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(0);
    auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(done)) {
      std::unique_lock lock(mu_);
      done_.wait(lock, done);
    }
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void run_chunk(std::size_t t) {
    const std::size_t lo = chunk_lo(begin_, len_, t, parts_);
    const std::size_t hi = chunk_lo(begin_, len_, t + 1, parts_);
    if (lo == hi) return;
    const bool was_in_task = t_in_task;
    t_in_task = true;
    try {
      fn_(ctx_, lo, hi);
    } catch (...) {
      errors_[t] = std::current_exception();  // each chunk owns its slot: no lock needed
    }
    t_in_task = was_in_task;
  }

  void work(std::size_t w) {
    std::uint64_t seen = 0;
    auto ready = [&] {
      return stop_.load(std::memory_order_relaxed) || job_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      if (!spin_until(ready)) {
        std::unique_lock lock(mu_);
        wake_.wait(lock, ready);
      }
      if (stop_.load()) return;
      seen = job_.load(std::memory_order_acquire);
      if (w >= (seen & 0xffff)) continue;  // not in this job
      run_chunk(w);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(
            mu_);  // so the notify cannot slip between the caller's check and its sleep
        done_.notify_one();
      }
    }
  }

  const std::size_t capacity_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::uint64_t generation_ = 0;       // jobs posted (caller only)
  std::atomic<std::uint64_t> job_{0};  // generation_ << 16 | parts of the current job
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> pending_{0};
  // The current job (see run()).
  std::size_t begin_ = 0, len_ = 0, parts_ = 0;
  detail::ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::vector<std::exception_ptr> errors_;
};

constexpr int kMaxThreads = 1024;  // parts travel in 16 bits of Pool::job_

int hardware_threads() {
  const unsigned h = std::thread::hardware_concurrency();
  return h == 0 ? 1 : h > kMaxThreads ? kMaxThreads : static_cast<int>(h);
}

// busy: held while a job runs on the pool (or while the pool is rebuilt). config: guards the
// thread count and the pool pointer.
std::mutex g_busy, g_config;
int g_threads = 0;  // 0: not chosen yet (hardware_concurrency on first use)
std::unique_ptr<Pool> g_pool;

}  // namespace

void set_num_threads(int n) {
  if (n < 0 || n > kMaxThreads)
    throw Error("threads: must be in [0, " + std::to_string(kMaxThreads) +
                "] (0: all cores); got " + std::to_string(n));
  if (t_in_task) throw Error("threads: set_num_threads called from inside a parallel_for task");
  std::lock_guard busy(g_busy);  // waits for a running job
  std::lock_guard cfg(g_config);
  g_threads = n == 0 ? hardware_threads() : n;  // a bigger pool is built on next use
}

int num_threads() {
  std::lock_guard cfg(g_config);
  if (g_threads == 0) g_threads = hardware_threads();
  return g_threads;
}

namespace detail {

void run_parallel(std::size_t begin, std::size_t end, ChunkFn fn, void* ctx) {
  if (end <= begin) return;
  const std::size_t parts = static_cast<std::size_t>(num_threads());
  const std::size_t len = end - begin;
  std::unique_lock busy(g_busy, std::defer_lock);
  if (parts == 1 || len == 1 || t_in_task || !busy.try_lock()) {
    // Inline: the same chunks as the pool would make, in order.
    const bool was_in_task = t_in_task;
    t_in_task = true;
    try {
      for (std::size_t t = 0; t < parts; ++t) {
        const std::size_t lo = chunk_lo(begin, len, t, parts),
                          hi = chunk_lo(begin, len, t + 1, parts);
        if (lo != hi) fn(ctx, lo, hi);
      }
    } catch (...) {
      t_in_task = was_in_task;
      throw;
    }
    t_in_task = was_in_task;
    return;
  }
  Pool* pool;
  {
    std::lock_guard cfg(g_config);
    if (!g_pool || g_pool->capacity() < parts) {
      g_pool.reset();
      g_pool = std::make_unique<Pool>(parts);
    }
    pool = g_pool.get();
  }
  pool->run(begin, end, parts, fn, ctx);
}

}  // namespace detail
}  // namespace cnn::kernels
