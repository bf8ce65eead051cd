// Winograd F(4x4, 3x3): the kernel transform and the driver around the per-ISA tile transforms
// (simd/winograd_impl.hpp) and the 36 GEMMs per block of tiles.
#include "kernels/winograd.hpp"

#include <algorithm>

#include "kernels/eltwise.hpp"
#include "kernels/simd/winograd_simd.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {

namespace {

constexpr std::size_t kTile = 6, kOut = 4, kPositions = kTile * kTile;

// Scratch per block of tiles: V [36, tiles, in_c] and M [36, tiles, out_c], 12 MiB per 64 input
// channels. Two costs pull against each other. Each block streams all 36 packed kernels
// (36 * in_c * out_c floats: 37.7 MB for 512 -> 512 channels) past its tiles, so large kernels
// want large blocks. A block larger than the L3 cache (32 MiB) goes to memory and back between
// the transforms and the GEMMs, which costs most where the GEMMs are short (k = in_c). Measured
// (2 threads, batch 20, ms): 64 channels at 150x150 71-74 with 200-680 tiles per block, 84-89
// with 1600-3200; 512 channels at 18x18 57.6 with 85 tiles, 50.6 with all 500.
constexpr std::size_t kBlockBudget = std::size_t{12} << 20;
constexpr std::size_t kBudgetChannels = 64;
constexpr std::size_t kMinBlockTiles = 32;

const simd::WinogradFns& fns_for(Isa isa) {
  switch (isa) {
    case Isa::Sse2:
      return simd::winograd_sse2();
    case Isa::Avx2:
      return simd::winograd_avx2();
    case Isa::Avx512:
      return simd::winograd_avx512();
    case Isa::Reference:
      break;
  }
  throw Error("winograd: needs a SIMD instruction set (the direct convolution is the reference)");
}

// G, the kernel's 6x3 interpolation matrix.
constexpr double kG[kTile][3] = {{0.25, 0.0, 0.0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0.0, 0.0, 1.0}};

// Tile t (per_sample = winograd_tiles(g) per sample, tiles_w per row) of x [n, h, w, c]:
// src[6 * i + j] points at the input pixel (4 ty + i - pad_top, 4 tx + j - pad_left), or at
// zeros outside the input.
void input_pointers(const ConvGeometry& g, const float* x, std::size_t tile, std::size_t tiles_w,
                    std::size_t per_sample, const float* zeros, const float** src) {
  const std::size_t s = tile / per_sample, r = tile % per_sample;
  const long iy0 = static_cast<long>(kOut * (r / tiles_w)) - static_cast<long>(g.pad_top);
  const long ix0 = static_cast<long>(kOut * (r % tiles_w)) - static_cast<long>(g.pad_left);
  const float* xs = x + s * g.h * g.w * g.c;
  for (long i = 0; i < 6; ++i)
    for (long j = 0; j < 6; ++j) {
      const long iy = iy0 + i, ix = ix0 + j;
      const bool inside =
          iy >= 0 && ix >= 0 && iy < static_cast<long>(g.h) && ix < static_cast<long>(g.w);
      src[i * 6 + j] =
          inside ? xs + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * g.c
                 : zeros;
    }
}

// Tiles per block for in_c and out_c channels (see kBlockBudget), or block_tiles when not 0.
std::size_t block_of(std::size_t total, std::size_t c, std::size_t f, std::size_t block_tiles) {
  const std::size_t per_tile = kPositions * (c + f) * sizeof(float);
  const std::size_t budget = kBlockBudget * std::max<std::size_t>(1, c / kBudgetChannels);
  return std::min(total, block_tiles ? block_tiles : std::max(kMinBlockTiles, budget / per_tile));
}

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 &&
         g.dil_w == 1 && g.out_h > 0 && g.out_w > 0;
}

std::size_t winograd_tiles(const ConvGeometry& g) {
  return ((g.out_h + kOut - 1) / kOut) * ((g.out_w + kOut - 1) / kOut);
}

bool winograd_pays(const ConvGeometry& g, std::size_t out_c) {
  if (!winograd_applies(g)) return false;
  // Covered / outputs = tiles * 16 / outputs, compared in integers: <= 5/4, or <= 2 with
  // enough channels.
  const std::size_t covered = winograd_tiles(g) * kOut * kOut, outputs = g.out_h * g.out_w;
  return 4 * covered <= 5 * outputs || (covered <= 2 * outputs && g.c * out_c >= 8192);
}

WinogradKernel::WinogradKernel(Isa isa) : isa_(isa) {
  fns_for(isa);
  for (std::size_t k = 0; k < kPositions; ++k) u_.emplace_back(isa);
}

namespace {
// One position's floats in a kernel's storage, each starting 64-byte aligned.
std::size_t position_floats(Isa isa, std::size_t in_c, std::size_t out_c) {
  return line_floats(PackedB::floats(isa, in_c, out_c));
}
}  // namespace

std::size_t WinogradKernel::storage_floats(Isa isa, std::size_t in_c, std::size_t out_c) {
  return kPositions * position_floats(isa, in_c, out_c);
}

void WinogradKernel::set(const float* kernel, std::size_t in_c, std::size_t out_c, float* storage) {
  c_ = in_c;
  f_ = out_c;
  const std::size_t per_position = position_floats(isa_, in_c, out_c);
  for (std::size_t k = 0; k < kPositions; ++k)
    u_[k].use_storage(storage ? storage + k * per_position : nullptr);
  // U_k = (G g G^T)[ky][kx] = sum over taps (a, b) of G[ky][a] G[kx][b] g[a][b]: each position is
  // one weighted sum of the 9 taps' [in_c, out_c] matrices, coefficients rounded once from double.
  // All 36 are packed in one pass that reads each tap once.
  float coef[kPositions * 9];
  PackedB* dst[kPositions];
  for (std::size_t k = 0; k < kPositions; ++k) {
    for (std::size_t a = 0; a < 3; ++a)
      for (std::size_t b = 0; b < 3; ++b)
        coef[k * 9 + a * 3 + b] = static_cast<float>(kG[k / kTile][a] * kG[k % kTile][b]);
    dst[k] = &u_[k];
  }
  PackedB::pack_combined(in_c, out_c, kernel, out_c, in_c * out_c, coef, dst, kPositions);
}

std::size_t winograd_scratch_floats(const ConvGeometry& g, std::size_t n, std::size_t out_c,
                                    std::size_t block_tiles) {
  const std::size_t block = block_of(n * winograd_tiles(g), g.c, out_c, block_tiles);
  return line_floats(kPositions * block * (g.c + out_c) + g.c);
}

void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const WinogradKernel& u,
                      const float* bias, Act act, float* y, AlignedVector<float>& scratch,
                      std::size_t block_tiles, std::size_t ldy) {
  scratch.resize(winograd_scratch_floats(g, n, u.out_c(), block_tiles));
  winograd_conv3x3(g, n, x, u, bias, act, y, scratch.data(), block_tiles, ldy);
}

void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const WinogradKernel& u,
                      const float* bias, Act act, float* y, float* scratch, std::size_t block_tiles,
                      std::size_t ldy) {
  const simd::WinogradFns& fns = fns_for(u.isa());
  const std::size_t c = g.c, f = u.out_c();
  if (ldy == 0) ldy = f;
  if (u.in_c() != c)
    throw Error("winograd: the kernel has " + std::to_string(u.in_c()) +
                " input channels, the input " + std::to_string(c));
  const std::size_t tiles_w = (g.out_w + kOut - 1) / kOut;
  const std::size_t per_sample = winograd_tiles(g), total = n * per_sample;
  const std::size_t block = block_of(total, c, f, block_tiles);
  float* v = scratch;
  float* m = v + kPositions * block * c;
  float* zeros = m + kPositions * block * f;
  std::fill(zeros, zeros + c, 0.0f);
  const std::size_t out_size = g.out_h * g.out_w * ldy;
  const bool relu = act == Act::Relu;

  for (std::size_t t0 = 0; t0 < total; t0 += block) {
    const std::size_t bt = std::min(block, total - t0);
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      const float* src[kPositions];
      for (std::size_t t = lo; t < hi; ++t) {
        input_pointers(g, x, t0 + t, tiles_w, per_sample, zeros, src);
        fns.input_tile(src, c, v + t * c, bt * c);
      }
    });
    // M_k = V_k U_k for the 36 tile positions, one GEMM per task.
    parallel_for(0, kPositions, [&](std::size_t k) {
      u.position(k).multiply(Trans::No, bt, 1.0f, v + k * bt * c, c, 0.0f, m + k * bt * f, f);
    });
    // Output transform with bias and relu: the 4x4 block, cut at the bottom/right edge.
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      float* dst[kOut * kOut];
      for (std::size_t t = lo; t < hi; ++t) {
        const std::size_t tile = t0 + t, s = tile / per_sample, r = tile % per_sample;
        const std::size_t oy = kOut * (r / tiles_w), ox = kOut * (r % tiles_w);
        float* ys = y + s * out_size;
        for (std::size_t i = 0; i < kOut; ++i)
          for (std::size_t j = 0; j < kOut; ++j)
            dst[i * kOut + j] = oy + i < g.out_h && ox + j < g.out_w
                                    ? ys + ((oy + i) * g.out_w + ox + j) * ldy
                                    : nullptr;
        fns.output_tile(m + t * f, bt * f, f, bias, relu, dst);
      }
    });
  }
  if (act != Act::Linear && act != Act::Relu)
    bias_act_forward(act, y, nullptr, n * g.out_h * g.out_w, f, ldy);
}

}  // namespace cnn::kernels

namespace cnn::kernels {

void winograd_kernel_grad(const ConvGeometry& g, std::size_t n, const float* x, const float* dz,
                          std::size_t f, float* dkernel, AlignedVector<float>& scratch,
                          std::size_t block_tiles, Isa isa) {
  const simd::WinogradFns& fns = fns_for(isa);
  const std::size_t c = g.c, cf = c * f;
  const std::size_t tiles_w = (g.out_w + kOut - 1) / kOut;
  const std::size_t per_sample = winograd_tiles(g), total = n * per_sample;
  const std::size_t block = block_of(total, c, f, block_tiles);
  // V [36, block, c], E [36, block, f] (the output gradient's tiles), dU [36, c, f], zeros.
  scratch.resize(kPositions * (block * (c + f) + cf) + std::max(c, f));
  float* v = scratch.data();
  float* e = v + kPositions * block * c;
  float* du = e + kPositions * block * f;
  float* zeros = du + kPositions * cf;
  std::fill(zeros, zeros + std::max(c, f), 0.0f);
  const std::size_t out_size = g.out_h * g.out_w * f;

  for (std::size_t t0 = 0; t0 < total; t0 += block) {
    const std::size_t bt = std::min(block, total - t0);
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      const float* src[kPositions];
      for (std::size_t t = lo; t < hi; ++t) {
        const std::size_t tile = t0 + t, s = tile / per_sample, r = tile % per_sample;
        input_pointers(g, x, tile, tiles_w, per_sample, zeros, src);
        fns.input_tile(src, c, v + t * c, bt * c);
        // The tile's 4x4 block of dz, zeros past the bottom/right edge.
        const std::size_t oy = kOut * (r / tiles_w), ox = kOut * (r % tiles_w);
        const float* zs = dz + s * out_size;
        for (std::size_t i = 0; i < kOut; ++i)
          for (std::size_t j = 0; j < kOut; ++j)
            src[i * kOut + j] = oy + i < g.out_h && ox + j < g.out_w
                                    ? zs + ((oy + i) * g.out_w + ox + j) * f
                                    : zeros;
        fns.grad_tile(src, f, e + t * f, bt * f);
      }
    });
    // dU_k (+)= V_k^T E_k: the sum over tiles, block after block in order.
    parallel_for(0, kPositions, [&](std::size_t k) {
      gemm_for(isa, Trans::Yes, Trans::No, c, f, bt, 1.0f, v + k * bt * c, c, e + k * bt * f, f,
               t0 == 0 ? 0.0f : 1.0f, du + k * cf, f);
    });
  }
  if (total == 0) std::fill(du, du + kPositions * cf, 0.0f);
  // dkernel[ky, kx] = (G^T dU G)[ky, kx] = sum over positions (i, j) of G[i][ky] G[j][kx] dU_ij.
  float coef[9][kPositions];
  for (std::size_t tap = 0; tap < 9; ++tap)
    for (std::size_t k = 0; k < kPositions; ++k)
      coef[tap][k] = static_cast<float>(kG[k / kTile][tap / 3] * kG[k % kTile][tap % 3]);
  // In fixed pieces, not one range per thread: where a range ends decides which values take
  // the vector path and which the scalar tail, whose roundings may differ (an unfused
  // xsimd::fma in a build without inlining), and that must not depend on the thread count.
  constexpr std::size_t kPiece = 4096;
  parallel_for(0, (cf + kPiece - 1) / kPiece, [&](std::size_t piece) {
    const std::size_t lo = piece * kPiece, hi = std::min(cf, lo + kPiece);
    for (std::size_t tap = 0; tap < 9; ++tap)
      fns.combine(du + lo, cf, coef[tap], kPositions, hi - lo, dkernel + tap * cf + lo);
  });
}

}  // namespace cnn::kernels
