// A small pool of persistent worker threads for the kernels.
//
// parallel_for(begin, end, f) cuts [begin, end) into num_threads() contiguous chunks by a static
// rule (chunk t is [begin + len*t/T, begin + len*(t+1)/T)), so which indices land together
// depends only on the range and the thread count, never on timing. The calling thread runs chunk
// 0; the workers, created once and kept, run the others. Kernels that must give the same result
// for any thread count (the GEMM) split over output elements only, never over a sum.
//
// f is called either as f(lo, hi) once per non-empty chunk, or, when it takes one argument, as
// f(i) for every index. If a chunk throws, the other chunks still run to their end and the
// exception of the lowest-numbered failing chunk is rethrown in the caller.
//
// A parallel_for called from inside a task, or while another thread is using the pool, runs its
// chunks one after the other on the calling thread (same chunks, same order), so nesting cannot
// deadlock.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

namespace cnn::kernels {

// Threads used by parallel_for, the caller included. n = 0 means
// std::thread::hardware_concurrency(). Throws cnn::Error when n < 0 or when called from inside a
// parallel_for task.
void set_num_threads(int n);
int num_threads();

namespace detail {
using ChunkFn = void (*)(void* ctx, std::size_t lo, std::size_t hi);
void run_parallel(std::size_t begin, std::size_t end, ChunkFn fn, void* ctx);
}  // namespace detail

template <class F>
void parallel_for(std::size_t begin, std::size_t end, F&& f) {
  using Fn = std::remove_reference_t<F>;
  auto thunk = [](void* ctx, std::size_t lo, std::size_t hi) {
    Fn& fn = *static_cast<Fn*>(ctx);
    if constexpr (std::is_invocable_v<Fn&, std::size_t, std::size_t>) {
      fn(lo, hi);
    } else {
      for (std::size_t i = lo; i < hi; ++i) fn(i);
    }
  };
  detail::run_parallel(begin, end, thunk,
                       const_cast<void*>(static_cast<const void*>(std::addressof(f))));
}

}  // namespace cnn::kernels
