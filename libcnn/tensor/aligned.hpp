// Vectors whose data starts on a 64-byte line, for the scratch that SIMD kernels stream through.
//
// std::vector's memory comes from malloc, 16-byte aligned: a block past glibc's mmap threshold
// starts 16 bytes into its page, so every 64-byte vector access to it straddles two cache lines.
#pragma once

#include <cstddef>
#include <vector>
#include <xsimd/xsimd.hpp>

namespace cnn {

// A std::vector whose data() is 64-byte aligned (a cache line, one AVX-512 vector).
template <class T>
using AlignedVector = std::vector<T, xsimd::aligned_allocator<T, 64>>;

// Floats rounded up to whole 64-byte lines, so that what follows them in an aligned block
// stays aligned.
constexpr std::size_t line_floats(std::size_t floats) { return (floats + 15) / 16 * 16; }

}  // namespace cnn
