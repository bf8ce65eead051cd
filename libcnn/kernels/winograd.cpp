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

// The 4x4 output block of tile `tile` in out [n, out_h, out_w, ld floats a pixel]: dst[4 * i + j]
// points at output pixel (4 ty + i, 4 tx + j), or is `outside` past the bottom/right edge.
template <class T>
void block_pointers(const ConvGeometry& g, T* out, std::size_t ld, std::size_t tile,
                    std::size_t tiles_w, std::size_t per_sample, T* outside, T** dst) {
  const std::size_t s = tile / per_sample, r = tile % per_sample;
  const std::size_t oy = kOut * (r / tiles_w), ox = kOut * (r % tiles_w);
  T* os = out + s * g.out_h * g.out_w * ld;
  for (std::size_t i = 0; i < kOut; ++i)
    for (std::size_t j = 0; j < kOut; ++j)
      dst[i * kOut + j] =
          oy + i < g.out_h && ox + j < g.out_w ? os + ((oy + i) * g.out_w + ox + j) * ld : outside;
}

// Tiles per block for in_c and out_c channels (see kBlockBudget), or block_tiles when not 0.
std::size_t block_of(std::size_t total, std::size_t c, std::size_t f, std::size_t block_tiles) {
  const std::size_t per_tile = kPositions * (c + f) * sizeof(float);
  const std::size_t budget = kBlockBudget * std::max<std::size_t>(1, c / kBudgetChannels);
  return std::min(total, block_tiles ? block_tiles : std::max(kMinBlockTiles, budget / per_tile));
}

// Lanes: for kernels of up to kLaneKernelBytes (36 * in_c * out_c floats: 32 -> 64 channels
// 295 KB, 128 -> 128 2.4 MB) the tiles go in sub-blocks of kLaneTiles, and each thread takes
// whole sub-blocks through all three steps:
// input transform, 36 GEMMs, output transform. The blocks above split each step over the
// threads instead (the tiles, then the positions, then the tiles), so every V and M the
// transforms write is read by the other core, from a block far larger than L2. Measured
// against them, 2 threads, ms, 3 alternating rounds (blocks -> lanes): the MNIST convnet's
// conv2d_1 at batch 64 0.97-1.02 -> 0.48-0.51; at batch 20, cats_dogs' conv2d_1 9.5-10.6 ->
// 6.9-7.0 and its input gradient 12.1-12.7 -> 8.4-8.9, conv2d_3 (128 -> 128 at 17x17) 2.1-2.2
// -> 1.8-2.0, VGG16's block1_conv2 74-76 -> 48-49 and block2_conv2 48.2-48.6 -> 40.1. Kernels
// of 256 and 512 channels lost (each sub-block streams all 36 kernels past its tiles: 37.7 MB
// for 512), and keep the blocks. Eight lanes whatever the thread count, so that the scratch is
// known before the call; a thread runs its lanes one after another in the space of its first.
// The tiles are independent: the result is the same for any split.
//
// A sub-block's tiles are the rows of its 36 products, so 42 of them fill whole GEMM tiles (3
// of AVX-512's 14 rows, 7 of AVX2's 6); V and M then take at most 1.5 MB (128 -> 128), about
// half of it for the layers below. Sub-blocks of about 1 MB of V and M (or the kernel's size)
// before: 75 tiles for 32 -> 64 (5 x 14 rows and a staged tile for 5), 64 for 128 -> 128.
// Measured, 2 threads, 3 alternating rounds, ms (old -> 42): cats_dogs' inference at batch 20,
// conv2d_1 7.2-7.4 -> 6.2-6.5, conv2d_3 3.1-3.2 -> 1.95-2.0 (conv2d_2 had 42 already);
// VGG16's block2_conv2 39.8-40.5 -> 33.5-33.6; SqueezeNet 1.1's eight expand3x3 layers 19.5 ->
// 17.7; the MNIST convnet's conv2d_1 at batch 256 2.15-2.35 -> 1.79-2.07.
constexpr std::size_t kLanes = 8;
constexpr std::size_t kLaneTiles = 42;
constexpr std::size_t kLaneKernelBytes = std::size_t{2500} << 10;
// A kernel gradient's slices (below) sum its tiles' products sub-block after sub-block, which
// fixes where their rounding falls: they keep sub-blocks of about kSliceBytes of V and E.
constexpr std::size_t kSliceBytes = std::size_t{1} << 20;

std::size_t kernel_bytes(std::size_t c, std::size_t f) {
  return kPositions * c * f * sizeof(float);
}

// Tiles per sub-block of a kernel gradient's slice, or block_tiles when not 0.
std::size_t slice_tiles(std::size_t c, std::size_t f, std::size_t block_tiles) {
  if (block_tiles) return block_tiles;
  const std::size_t per_tile = kPositions * (c + f) * sizeof(float);
  return std::max(kMinBlockTiles, std::max(kSliceBytes, kernel_bytes(c, f)) / per_tile);
}

struct Lanes {
  std::size_t lanes = 0, sub = 0, blocks = 0;  // lanes 0: the blocks, one after another
};

Lanes lanes_of(std::size_t total, std::size_t c, std::size_t f, std::size_t block_tiles) {
  if (kernel_bytes(c, f) > kLaneKernelBytes) return {};
  const std::size_t sub = block_tiles ? block_tiles : kLaneTiles, blocks = (total + sub - 1) / sub;
  if (blocks < 2) return {};  // one block: split over the threads step by step
  return {std::min(kLanes, blocks), sub, blocks};
}

std::size_t lane_floats(std::size_t sub, std::size_t c, std::size_t f) {
  return line_floats(kPositions * sub * (c + f));
}

// The kernel gradient sums over the tiles, so a lane of its own is a slice: a fixed number of
// them (never the thread count: where the sums split changes their rounding), each summing its
// tiles' dU [36, c, f] sub-block after sub-block, the slices' sums then added in order. At most
// kGradSlices, with kSliceTiles tiles or more each, and kGradPartialBytes of sums in all (fewer
// than two: the blocks). Measured, 2 threads, ms (blocks -> 4 slices): the MNIST convnet's
// conv2d_1 at batch 64 0.75 -> 0.59, cats_dogs' conv2d_1 15-16 -> 10.1, conv2d_2 9.6 -> 7.3.
constexpr std::size_t kGradSlices = 4, kSliceTiles = 128;
constexpr std::size_t kGradPartialBytes = std::size_t{16} << 20;

std::size_t grad_slices(std::size_t total, std::size_t c, std::size_t f) {
  return std::min({kGradSlices, total / kSliceTiles, kGradPartialBytes / kernel_bytes(c, f)});
}

// The thread's Winograd scratch serves every layer in turn (conv2d.cpp), in sizes that differ:
// it only grows, since a vector's resize zeroes what it adds back (3 MB a training step in the
// MNIST convnet, between conv2d_1's forward and its kernel gradient).
void grow(AlignedVector<float>& scratch, std::size_t floats) {
  if (scratch.size() < floats) scratch.resize(floats);
}

// Tiles [lo, hi) of the block [t0, t0 + bt): V [36, bt, c].
void input_transforms(const simd::WinogradFns& fns, const ConvGeometry& g, const float* x,
                      std::size_t t0, std::size_t bt, std::size_t lo, std::size_t hi,
                      const float* zeros, float* v) {
  const std::size_t tiles_w = (g.out_w + kOut - 1) / kOut, per_sample = winograd_tiles(g);
  const float* src[kPositions];
  for (std::size_t t = lo; t < hi; ++t) {
    input_pointers(g, x, t0 + t, tiles_w, per_sample, zeros, src);
    fns.input_tile(src, g.c, v + t * g.c, bt * g.c);
  }
}

// Output transform with bias and relu of tiles [lo, hi) of the block: the 4x4 block, cut at
// the bottom/right edge.
void output_transforms(const simd::WinogradFns& fns, const ConvGeometry& g, std::size_t f,
                       std::size_t ldy, const float* bias, bool relu, std::size_t t0,
                       std::size_t bt, std::size_t lo, std::size_t hi, const float* m, float* y) {
  const std::size_t tiles_w = (g.out_w + kOut - 1) / kOut, per_sample = winograd_tiles(g);
  float* dst[kOut * kOut];
  for (std::size_t t = lo; t < hi; ++t) {
    block_pointers<float>(g, y, ldy, t0 + t, tiles_w, per_sample, nullptr, dst);
    fns.output_tile(m + t * f, bt * f, f, bias, relu, dst);
  }
}

// Tiles [lo, hi) of the kernel gradient's block [t0, t0 + bt): V [36, bt, c] and E [36, bt, f],
// the transformed output gradient (its 4x4 blocks, zeros past the bottom/right edge).
void grad_transforms(const simd::WinogradFns& fns, const ConvGeometry& g, const float* x,
                     const float* dz, std::size_t f, std::size_t t0, std::size_t bt, std::size_t lo,
                     std::size_t hi, const float* zeros, float* v, float* e) {
  input_transforms(fns, g, x, t0, bt, lo, hi, zeros, v);
  const std::size_t tiles_w = (g.out_w + kOut - 1) / kOut, per_sample = winograd_tiles(g);
  const float* src[kOut * kOut];
  for (std::size_t t = lo; t < hi; ++t) {
    block_pointers<const float>(g, dz, f, t0 + t, tiles_w, per_sample, zeros, src);
    fns.grad_tile(src, f, e + t * f, bt * f);
  }
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
  const Lanes ln = lanes_of(n * winograd_tiles(g), g.c, out_c, block_tiles);
  if (ln.lanes) return ln.lanes * lane_floats(ln.sub, g.c, out_c) + line_floats(g.c);
  const std::size_t block = block_of(n * winograd_tiles(g), g.c, out_c, block_tiles);
  return line_floats(kPositions * block * (g.c + out_c) + g.c);
}

void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const WinogradKernel& u,
                      const float* bias, Act act, float* y, AlignedVector<float>& scratch,
                      std::size_t block_tiles, std::size_t ldy) {
  grow(scratch, winograd_scratch_floats(g, n, u.out_c(), block_tiles));
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
  const std::size_t total = n * winograd_tiles(g);
  const bool relu = act == Act::Relu;
  const Lanes ln = lanes_of(total, c, f, block_tiles);
  if (ln.lanes) {
    const std::size_t per_lane = lane_floats(ln.sub, c, f), blocks = ln.blocks;
    float* zeros = scratch + ln.lanes * per_lane;
    std::fill(zeros, zeros + c, 0.0f);
    // A thread's lanes [lo, hi) one after another in the space of its first: what the last
    // sub-block wrote is still in this core's cache.
    parallel_for(0, ln.lanes, [&](std::size_t lo, std::size_t hi) {
      float* v = scratch + lo * per_lane;
      for (std::size_t b = blocks * lo / ln.lanes; b < blocks * hi / ln.lanes; ++b) {
        const std::size_t t0 = b * ln.sub, bt = std::min(ln.sub, total - t0);
        float* m = v + kPositions * bt * c;
        input_transforms(fns, g, x, t0, bt, 0, bt, zeros, v);
        for (std::size_t k = 0; k < kPositions; ++k)
          u.position(k).multiply(Trans::No, bt, 1.0f, v + k * bt * c, c, 0.0f, m + k * bt * f, f);
        output_transforms(fns, g, f, ldy, bias, relu, t0, bt, 0, bt, m, y);
      }
    });
    if (act != Act::Linear && act != Act::Relu)
      bias_act_forward(act, y, nullptr, n * g.out_h * g.out_w, f, ldy);
    return;
  }
  const std::size_t block = block_of(total, c, f, block_tiles);
  float* v = scratch;
  float* m = v + kPositions * block * c;
  float* zeros = m + kPositions * block * f;
  std::fill(zeros, zeros + c, 0.0f);

  for (std::size_t t0 = 0; t0 < total; t0 += block) {
    const std::size_t bt = std::min(block, total - t0);
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      input_transforms(fns, g, x, t0, bt, lo, hi, zeros, v);
    });
    // M_k = V_k U_k for the 36 tile positions, one GEMM per task.
    parallel_for(0, kPositions, [&](std::size_t k) {
      u.position(k).multiply(Trans::No, bt, 1.0f, v + k * bt * c, c, 0.0f, m + k * bt * f, f);
    });
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      output_transforms(fns, g, f, ldy, bias, relu, t0, bt, lo, hi, m, y);
    });
  }
  if (act != Act::Linear && act != Act::Relu)
    bias_act_forward(act, y, nullptr, n * g.out_h * g.out_w, f, ldy);
}

}  // namespace cnn::kernels

namespace cnn::kernels {

namespace {

// Element-wise passes over dU go in pieces of this many floats (see combine_grad).
constexpr std::size_t kPiece = 4096;

// dkernel [9, c, f] from dU [36, c, f] (cf = c * f).
void combine_grad(const simd::WinogradFns& fns, const float* du, std::size_t cf, float* dkernel) {
  // dkernel[ky, kx] = (G^T dU G)[ky, kx] = sum over positions (i, j) of G[i][ky] G[j][kx] dU_ij.
  float coef[9][kPositions];
  for (std::size_t tap = 0; tap < 9; ++tap)
    for (std::size_t k = 0; k < kPositions; ++k)
      coef[tap][k] = static_cast<float>(kG[k / kTile][tap / 3] * kG[k % kTile][tap % 3]);
  // In fixed pieces, not one range per thread: where a range ends decides which values take
  // the vector path and which the scalar tail, whose roundings may differ (SSE2's vectors
  // multiply and add apart), and that must not depend on the thread count.
  parallel_for(0, (cf + kPiece - 1) / kPiece, [&](std::size_t piece) {
    const std::size_t lo = piece * kPiece, hi = std::min(cf, lo + kPiece);
    for (std::size_t tap = 0; tap < 9; ++tap)
      fns.combine(du + lo, cf, coef[tap], kPositions, hi - lo, dkernel + tap * cf + lo);
  });
}

void grad_by_slices(const simd::WinogradFns& fns, Isa isa, const ConvGeometry& g, std::size_t n,
                    const float* x, const float* dz, std::size_t f, float* dkernel,
                    AlignedVector<float>& scratch, std::size_t block_tiles, std::size_t slices) {
  const std::size_t c = g.c, cf = c * f, total = n * winograd_tiles(g);
  const std::size_t sub = slice_tiles(c, f, block_tiles);
  // Per slice: V [36, sub, c] and E [36, sub, f], then its dU [36, c, f]; zeros after them all.
  const std::size_t ve = kPositions * sub * (c + f);
  const std::size_t per_slice = line_floats(ve + kPositions * cf);
  grow(scratch, slices * per_slice + std::max(c, f));
  float* zeros = scratch.data() + slices * per_slice;
  std::fill(zeros, zeros + std::max(c, f), 0.0f);
  // A thread's slices [s0, s1) transform in the space of its first (as the lanes do), each
  // into its own dU.
  parallel_for(0, slices, [&](std::size_t s0, std::size_t s1) {
    float* v = scratch.data() + s0 * per_slice;
    for (std::size_t sl = s0; sl < s1; ++sl) {
      float* du = scratch.data() + sl * per_slice + ve;
      const std::size_t lo = total * sl / slices, hi = total * (sl + 1) / slices;
      for (std::size_t t0 = lo; t0 < hi; t0 += sub) {
        const std::size_t bt = std::min(sub, hi - t0);
        float* e = v + kPositions * bt * c;
        grad_transforms(fns, g, x, dz, f, t0, bt, 0, bt, zeros, v, e);
        for (std::size_t k = 0; k < kPositions; ++k)
          gemm_for(isa, Trans::Yes, Trans::No, c, f, bt, 1.0f, v + k * bt * c, c, e + k * bt * f, f,
                   t0 == lo ? 0.0f : 1.0f, du + k * cf, f);
      }
    }
  });
  // dU = the slices' sums, added in slice order, in fixed pieces (see combine_grad).
  float* du = scratch.data() + ve;
  const std::size_t all = kPositions * cf;
  parallel_for(0, (all + kPiece - 1) / kPiece, [&](std::size_t piece) {
    const std::size_t lo = piece * kPiece, len = std::min(all - lo, kPiece);
    for (std::size_t sl = 1; sl < slices; ++sl)
      add_to(scratch.data() + sl * per_slice + ve + lo, len, du + lo);
  });
  combine_grad(fns, du, cf, dkernel);
}

}  // namespace

void winograd_kernel_grad(const ConvGeometry& g, std::size_t n, const float* x, const float* dz,
                          std::size_t f, float* dkernel, AlignedVector<float>& scratch,
                          std::size_t block_tiles, Isa isa) {
  const simd::WinogradFns& fns = fns_for(isa);
  const std::size_t c = g.c, cf = c * f, total = n * winograd_tiles(g);
  const std::size_t slices = grad_slices(total, c, f);
  if (slices > 1) {
    grad_by_slices(fns, isa, g, n, x, dz, f, dkernel, scratch, block_tiles, slices);
    return;
  }
  const std::size_t block = block_of(total, c, f, block_tiles);
  // V [36, block, c], E [36, block, f] (the output gradient's tiles), dU [36, c, f], zeros.
  grow(scratch, kPositions * (block * (c + f) + cf) + std::max(c, f));
  float* v = scratch.data();
  float* e = v + kPositions * block * c;
  float* du = e + kPositions * block * f;
  float* zeros = du + kPositions * cf;
  std::fill(zeros, zeros + std::max(c, f), 0.0f);
  for (std::size_t t0 = 0; t0 < total; t0 += block) {
    const std::size_t bt = std::min(block, total - t0);
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      grad_transforms(fns, g, x, dz, f, t0, bt, lo, hi, zeros, v, e);
    });
    // dU_k (+)= V_k^T E_k: the sum over tiles, block after block in order.
    parallel_for(0, kPositions, [&](std::size_t k) {
      gemm_for(isa, Trans::Yes, Trans::No, c, f, bt, 1.0f, v + k * bt * c, c, e + k * bt * f, f,
               t0 == 0 ? 0.0f : 1.0f, du + k * cf, f);
    });
  }
  if (total == 0) std::fill(du, du + kPositions * cf, 0.0f);
  combine_grad(fns, du, cf, dkernel);
}

}  // namespace cnn::kernels
