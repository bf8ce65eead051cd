// The tensor type of libcnn: float32, row-major (NHWC for images), 64-byte aligned, owned by
// xtensor.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>
#include <xsimd/xsimd.hpp>
#include <xtensor/xarray.hpp>

namespace cnn {

// A batch tensor: [n, h, w, c] for images, [n, features] after Flatten/Dense.
using Tensor = xt::xarray<float, xt::layout_type::row_major, xsimd::aligned_allocator<float, 64>>;

// A shape. Layer shapes (Keras's "output shape" without the batch) and full tensor shapes both
// use it; functions say which they mean.
using Shape = std::vector<std::size_t>;

// Number of elements of a shape (1 for the empty shape).
std::size_t numel(const Shape& s);

// Budgets for sizes read from files (share/limits.md): values in one sample's tensor (2^31:
// 8 GiB of float32), and parameters of a model (2^32: 16 GiB).
constexpr std::size_t kMaxSampleValues = std::size_t{1} << 31;
constexpr std::size_t kMaxParams = std::size_t{1} << 32;

// The one checked product of sizes: numel(s) when no partial product overflows and the result
// is at most limit, else nullopt. Every size taken from a file goes through it before anything
// is allocated.
std::optional<std::size_t> checked_numel(const Shape& s, std::size_t limit);

// "(26, 26, 32)"; with_batch gives Keras's "(None, 26, 26, 32)".
std::string shape_str(const Shape& s, bool with_batch = false);

// A full tensor shape: {n} followed by the per-sample shape.
Shape batch_shape(std::size_t n, const Shape& sample);

// The tensor's shape as a Shape.
Shape shape_of(const Tensor& t);

// Resizes t to shape (no reallocation when the size is unchanged); contents are unspecified.
void ensure_shape(Tensor& t, const Shape& shape);

}  // namespace cnn
