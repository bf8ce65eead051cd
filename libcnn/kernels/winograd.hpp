// Winograd convolution F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3x3 stride-1 undilated convolutions, NHWC. Every 4x4 block of outputs is
// computed from a 6x6 input tile with 36 multiplications per input/output channel pair instead
// of 144 (4x fewer), as 36 GEMMs of [tiles, in_c] x [in_c, out_c]:
//   V = B^T d B (input tiles),  U = G g G^T (kernel),  M = V . U (per tile position),
//   Y = A^T M A (the 4x4 outputs), with the interpolation points 0, 1, -1, 2, -2:
//   B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0 ]   A^T = [1 1  1 1  1 0]
//         [0 -4 -4  1 1 0]       [-1/6 -1/6 -1/6 ]         [0 1 -1 2 -2 0]
//         [0  4 -4 -1 1 0]       [-1/6  1/6 -1/6 ]         [0 1  1 4  4 0]
//         [0 -2 -1  2 1 0]       [1/24 1/12  1/6 ]         [0 1 -1 8 -8 1]
//         [0  2 -1 -2 1 0]       [1/24 -1/12 1/6 ]
//         [0  4  0 -5 0 1]       [   0    0    1 ]
// The transforms multiply by up to 8 and add up to 36 terms, so the result carries more rounding
// than the direct convolution: against it the error is of the order of 1e-5 of the output's
// magnitude (tests/unit/kernels/test_winograd.cpp measures and bounds it).
//
// Data flow: tiles are processed in blocks sized to stay in the L3 cache. For each block the
// input tiles are transformed (threads over tiles), the 36 products run with the kernels packed
// once per call (threads over tile positions), and the output transform adds the bias and the
// relu on the way out (threads over tiles). The transforms are xsimd vectors along the channels,
// one variant per ISA (simd/winograd_impl.hpp).
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/activation.hpp"
#include "kernels/gemm.hpp"
#include "kernels/im2col.hpp"
#include "tensor/aligned.hpp"

namespace cnn::kernels {

// Whether winograd_conv3x3 applies to g (3x3 kernel, stride 1, dilation 1).
bool winograd_applies(const ConvGeometry& g);

// The 4x4 output tiles of one sample: ceil(out_h / 4) * ceil(out_w / 4).
std::size_t winograd_tiles(const ConvGeometry& g);

// Whether winograd_conv3x3 applies to g (out_c output channels) and is expected to beat
// im2col + GEMM. It needs 36 multiplications per 4x4 tile against 9 per output, and the tiles
// hang past the bottom/right edge of small outputs (11x11 takes 3x3 tiles, 12x12). Where they
// cover at most 1.25x the outputs it pays. Up to 2x it pays only with enough channels
// (in_c * out_c >= 8192) for the 36 products to outweigh the per-tile transforms. Measured
// (2 cores, ms per batch, Winograd vs GEMM):
//   - VGG16 block5 (9x9, 512 -> 512, 1.78x): 13.3 vs 27.5 at batch 20;
//   - cats_dogs conv2d_3's input gradient (17x17, 128 -> 128, 1.38x): 6.5 vs 7.9;
//   - MNIST conv2d_1's input gradient (13x13, 64 -> 32, 1.51x): 3.6 vs 2.9 (whole backward) at
//     batch 64;
//   - MNIST conv2d_2 (3x3, 64 -> 64, 1.78x): 0.21 vs 0.19 forward.
bool winograd_pays(const ConvGeometry& g, std::size_t out_c);

// A 3x3 kernel transformed for F(4x4, 3x3): the 36 matrices U_k [in_c, out_c], each packed for
// the GEMM of one ISA. The ISA must be a SIMD one (throws cnn::Error for Isa::Reference or one
// the CPU lacks): the direct convolution is the reference.
class WinogradKernel {
 public:
  explicit WinogradKernel(Isa isa = active_isa());
  // kernel: Keras layout [3, 3, in_c, out_c]. Threads over in_c. The 36 matrices go to storage
  // when given (storage_floats(isa(), in_c, out_c) floats, 64-byte aligned, owned by the caller
  // and kept alive while this kernel is used), else to memory of this object's own.
  void set(const float* kernel, std::size_t in_c, std::size_t out_c, float* storage = nullptr);
  static std::size_t storage_floats(Isa isa, std::size_t in_c, std::size_t out_c);
  Isa isa() const { return isa_; }
  std::size_t in_c() const { return c_; }
  std::size_t out_c() const { return f_; }
  // The matmul_precision() set() packed for (the products run in it).
  Precision precision() const { return u_[0].precision(); }
  const PackedB& position(std::size_t k) const { return u_[k]; }

 private:
  Isa isa_;
  std::size_t c_ = 0, f_ = 0;
  std::vector<PackedB> u_;
};

// y[n, out_h, out_w, out_c] = act(the convolution of x[n, h, w, c] (g's geometry, its padding
// taken as zeros) with u's kernel + bias); bias may be null. Relu and linear are applied in the
// output transform, other activations in a pass after it. scratch grows as needed; block_tiles
// (for tests) forces blocks of that many tiles. y's pixels lie ldy floats apart (0: out_c; more
// for a slice of a Concatenate's channels). Deterministic for any thread count, and the same
// bits for any block_tiles: tiles are independent, and so are the GEMMs of the tile positions.
void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const WinogradKernel& u,
                      const float* bias, Act act, float* y, AlignedVector<float>& scratch,
                      std::size_t block_tiles = 0, std::size_t ldy = 0);
// The same with scratch of the caller's: winograd_scratch_floats(g, n, out_c, block_tiles)
// floats, whole 64-byte lines (a 64-byte aligned scratch stays aligned after them, for a
// WinogradKernel's storage).
void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const WinogradKernel& u,
                      const float* bias, Act act, float* y, float* scratch,
                      std::size_t block_tiles = 0, std::size_t ldy = 0);
std::size_t winograd_scratch_floats(const ConvGeometry& g, std::size_t n, std::size_t out_c,
                                    std::size_t block_tiles = 0);

// dkernel [3, 3, c, f] = the kernel gradient of that convolution (x [n, h, w, c], g's geometry)
// for the output gradient dz [n, out_h, out_w, f], overwritten: per tile position k,
// dU_k = V_k^T (A dz A^T)_k summed over all tiles (36 GEMMs whose sums run over the tiles), then
// dkernel = G^T dU G. Deterministic for any thread count: the tiles are summed in a fixed
// order, in up to 4 slices of consecutive tiles (a number set by the tile count and the kernel's
// size) whose sums are added in order.
void winograd_kernel_grad(const ConvGeometry& g, std::size_t n, const float* x, const float* dz,
                          std::size_t f, float* dkernel, AlignedVector<float>& scratch,
                          std::size_t block_tiles = 0, Isa isa = active_isa());

}  // namespace cnn::kernels
