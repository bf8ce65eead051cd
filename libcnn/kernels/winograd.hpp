// Winograd convolution F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3x3 stride-1 undilated convolutions, NHWC. Every 2x2 block of outputs is
// computed from a 4x4 input tile with 16 multiplications per input/output channel pair instead
// of 36 (2.25x fewer), as 16 GEMMs of [tiles, in_c] x [in_c, out_c]:
//   V = B^T d B (input tiles),  U = G g G^T (kernel),  M = V . U (per tile position),
//   Y = A^T M A (output 2x2),
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// The transforms add a few roundings: against the direct convolution the relative error is of
// the order of 1e-6 of the output's magnitude (tests/unit/kernels/test_winograd.cpp states it).
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/im2col.hpp"

namespace cnn::kernels {

// Whether winograd_conv3x3 applies to g (3x3 kernel, stride 1, dilation 1).
bool winograd_applies(const ConvGeometry& g);

// kernel: Keras layout [3, 3, in_c, out_c]. u: [16, in_c, out_c], overwritten.
void winograd_kernel_transform(const float* kernel, std::size_t in_c, std::size_t out_c, float* u);

// y[n, out_h, out_w, out_c] = the convolution of x[n, h, w, c] (g's geometry, its padding taken
// as zeros) with the kernel transformed into u; no bias. scratch grows as needed (tiles are
// processed in blocks that fit a few MiB, or of block_tiles tiles when it is not 0: for tests).
// Deterministic for any thread count: tiles are independent and the GEMMs are.
void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const float* u,
                      std::size_t out_c, float* y, std::vector<float>& scratch,
                      std::size_t block_tiles = 0);

}  // namespace cnn::kernels
