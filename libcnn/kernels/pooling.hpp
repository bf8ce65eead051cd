// 2-D max and average pooling on one NHWC sample, forward and backward. Padding cells (TF "same"
// padding) never take part: max ignores them, the average divides by the real cells only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cnn::kernels {

// Output position (oy, ox) covers input rows [oy * stride_h - pad_top, + ph) and columns
// [ox * stride_w - pad_left, + pw), clipped to the input. The caller fills out_h/out_w (see
// window.hpp) so that every window holds at least one real cell.
struct PoolGeometry {
  std::size_t h = 0, w = 0, c = 0;
  std::size_t ph = 1, pw = 1;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t pad_top = 0, pad_left = 0;
  std::size_t out_h = 0, out_w = 0;
  // Dilation: window tap t reads offset t * dil from the window's start (1: adjacent cells).
  // Dilated windows run the scalar kernels.
  std::size_t dil_h = 1, dil_w = 1;

  std::size_t in_size() const { return h * w * c; }
  std::size_t out_size() const { return out_h * out_w * c; }
};

// in: [h, w, c]; out: [out_h, out_w, c], overwritten with each window's max per channel.
// cell (nullptr: not wanted): [out_h, out_w, c], which cell of its window holds the max: the
// number of the cell in the window clipped to the input, row-major, 0 for the first real cell;
// on ties, the first in scan order (rows, then columns). A window number (not a flat index into
// in) is what the vector code has at hand, and 4 bytes per output rather than 8.
void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell);

// For every output element, dx[the cell that held its max] += dy. dy, cell: [out_h, out_w, c];
// dx: [h, w, c].
void max_pool_backward_add(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx);

// Whether no two windows share a cell: stride >= the dilated window along each axis, or a
// single window along it.
bool pool_windows_disjoint(const PoolGeometry& g);

// The same into a dx of zeros, written rather than added to, for windows that do not overlap
// (pool_windows_disjoint; else throws cnn::Error): every cell of every
// window gets 0.0f + dy where it held the max, else 0; cells in no window are left as they
// are. Bitwise what zeroing dx and max_pool_backward_add give there, in one pass.
void max_pool_backward_set(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx);

// in: [h, w, c]; out: [out_h, out_w, c], overwritten with the mean of each window's real cells.
void avg_pool_forward(const PoolGeometry& g, const float* in, float* out);

// dx[cell] += dy[o] / (real cells of window o), for every cell of every window o.
// dy: [out_h, out_w, c]; dx: [h, w, c].
void avg_pool_backward_add(const PoolGeometry& g, const float* dy, float* dx);

namespace ref {
// The scalar oracle of max_pool_forward / max_pool_backward_add.
void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell);
void max_pool_backward_add(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx);
void max_pool_backward_set(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx);
}  // namespace ref

}  // namespace cnn::kernels
