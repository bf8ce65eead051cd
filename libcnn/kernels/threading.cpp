// The kernels' thread pool: num_threads() - 1 persistent workers plus the calling thread.
// Between jobs workers poll briefly (kIdleSpin), then sleep on a condition variable.
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
// machine), as much as a whole 256^3 GEMM per thread. Idle workers poll for kIdleSpin after each
// job, so back-to-back kernels (a training step) start at once, and yield while they poll, so a
// busy thread sharing their core (an oversubscribed machine) is not held up. The caller, once its
// own chunks are done, polls only kJoinSpin for the workers and then sleeps: the work left is a
// whole chunk, and on a shared core its polling would only delay that chunk.
constexpr auto kIdleSpin = std::chrono::microseconds(200);
constexpr auto kJoinSpin = std::chrono::microseconds(20);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls pred for up to `spin`; true when it held. With yield, gives up the core every ~64 polls.
template <class Pred>
bool spin_until(Pred pred, std::chrono::microseconds spin, bool yield) {
  const auto until = std::chrono::steady_clock::now() + spin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    if (yield) std::this_thread::yield();
  }
}

class Pool {
 public:
  explicit Pool(int n) : parts_(static_cast<std::size_t>(n)), errors_(parts_) {
    workers_.reserve(parts_ - 1);
    for (std::size_t w = 1; w < parts_; ++w) workers_.emplace_back([this, w] { work(w); });
  }

  ~Pool() {
    {
      std::lock_guard lock(mu_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::size_t parts() const { return parts_; }

  void run(std::size_t begin, std::size_t end, detail::ChunkFn fn, void* ctx) {
    // The job is written before generation_ moves (release); workers read it after they see the
    // new generation (acquire), and the caller touches it again only when pending_ is back to 0.
    begin_ = begin;
    len_ = end - begin;
    fn_ = fn;
    ctx_ = ctx;
    for (auto& e : errors_) e = nullptr;
    pending_.store(parts_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(0);
    auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(done, kJoinSpin, false)) {
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
      return stop_.load(std::memory_order_relaxed) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      if (!spin_until(ready, kIdleSpin, true)) {
        std::unique_lock lock(mu_);
        wake_.wait(lock, ready);
      }
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      run_chunk(w);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mu_);  // so the notify cannot slip between the caller's check and its sleep
        done_.notify_one();
      }
    }
  }

  const std::size_t parts_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> pending_{0};
  // The current job (see run()).
  std::size_t begin_ = 0, len_ = 0;
  detail::ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::vector<std::exception_ptr> errors_;
};

int hardware_threads() {
  const unsigned h = std::thread::hardware_concurrency();
  return h == 0 ? 1 : static_cast<int>(h);
}

// busy: held while a job runs on the pool (or while the pool is rebuilt). config: guards the
// thread count and the pool pointer.
std::mutex g_busy, g_config;
int g_threads = 0;  // 0: not chosen yet (hardware_concurrency on first use)
std::unique_ptr<Pool> g_pool;

}  // namespace

void set_num_threads(int n) {
  if (n < 0) throw Error("threads: must be >= 0 (0: all cores); got " + std::to_string(n));
  if (t_in_task) throw Error("threads: set_num_threads called from inside a parallel_for task");
  std::lock_guard busy(g_busy);  // waits for a running job; the pool is rebuilt on next use
  std::lock_guard cfg(g_config);
  const int want = n == 0 ? hardware_threads() : n;
  if (g_pool && static_cast<int>(g_pool->parts()) != want) g_pool.reset();
  g_threads = want;
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
        const std::size_t lo = chunk_lo(begin, len, t, parts), hi = chunk_lo(begin, len, t + 1, parts);
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
    if (!g_pool || g_pool->parts() != parts) {
      g_pool.reset();
      g_pool = std::make_unique<Pool>(static_cast<int>(parts));
    }
    pool = g_pool.get();
  }
  pool->run(begin, end, fn, ctx);
}

}  // namespace detail
}  // namespace cnn::kernels
