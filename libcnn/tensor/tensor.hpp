// The tensor type of libcnn: float32, row-major (NHWC for images), 64-byte aligned, owned by xtensor.
#pragma once

#include <cstddef>
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

// "(26, 26, 32)"; with_batch gives Keras's "(None, 26, 26, 32)".
std::string shape_str(const Shape& s, bool with_batch = false);

// A full tensor shape: {n} followed by the per-sample shape.
Shape batch_shape(std::size_t n, const Shape& sample);

// The tensor's shape as a Shape.
Shape shape_of(const Tensor& t);

// Resizes t to shape (no reallocation when the size is unchanged); contents are unspecified.
void ensure_shape(Tensor& t, const Shape& shape);

}  // namespace cnn
