// The bfloat16 GEMM on AVX512_BF16 (compiled with -mavx512bf16 and the AVX-512 flags only here):
// C[m, n] = alpha * bf16(op(A)) * bf16(op(B)) + beta * C, products summed in float.
//
// Same scheme as the float GEMM (gemm_impl.hpp: panels of B in L2, slivers of A in L1, a 14 x 32
// register tile, threads over blocks of C, never over k), with k taken two at a time: vdpbf16ps
// multiplies a lane's pair of bfloat16 values by another pair and adds both products to a float
// accumulator, so a 512-bit instruction does 32 multiply-adds where a float FMA does 16.
//   - B is packed as pairs: for each pair q of k rows, NR = 32 columns of 32-bit words, word j =
//     bf16(B(2q, j)) | bf16(B(2q + 1, j)) << 16 (the instruction's lane layout). A k block has
//     ceil(kc / 2) such rows; an odd k ends with a pair whose second half is zero.
//   - A is converted as it is packed, one MR-row sliver at a time: rows of pairs (A read by rows:
//     32 floats of a row become 16 words with one vcvtne2ps2bf16), or pairs of rows (A read
//     transposed, a weight gradient: two rows of op(A)^T interleaved).
//   - The micro-kernel broadcasts one word of A per row (a pair of k) and runs 14 x 2 vdpbf16ps
//     per pair of k: 28 accumulators, 2 B vectors, 1 broadcast in the 32 zmm registers.
// KC = 768 values of k (384 pairs: the 14-row A sliver is 21 KiB in L1d and the packed B panel
// 384 x 512 words = 768 KiB in L2, as for the float GEMM's 384 floats), NC = 512. k blocks are
// balanced and even, so only the last one may end with half a pair.
//
// Every C element sees the same operations in the same order wherever it sits in the tiling
// and whichever thread computes it (partial tiles are staged): results are bitwise the same for
// any thread count.
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/simd/gemm_simd.hpp"

namespace cnn::kernels::simd {
namespace avx512bf16 {
namespace {

constexpr int MR = 14, NV = 2, W = 16, NR = NV * W;
constexpr std::size_t KC = 768, NC = 512;
constexpr std::size_t kBWords = KC / 2 * NC, kAWords = MR * KC / 2, kTileFloats = MR * NR;

std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

struct Scratch {
  std::uint32_t* data;
  Scratch() {
    constexpr std::size_t bytes = ((kBWords + kAWords + kTileFloats) * 4 + 63) / 64 * 64;
    data = static_cast<std::uint32_t*>(std::aligned_alloc(64, bytes));
    if (!data) throw std::bad_alloc();
  }
  ~Scratch() { std::free(data); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

std::uint32_t* scratch() {
  thread_local Scratch s;
  return s.data;
}

// The first `count` (<= 16) lanes, the rest zero.
__mmask16 lanes(std::size_t count) {
  return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << count) - 1);
}

// 16 words from two rows of 16 floats: word j = bf16(lo[j]) | bf16(hi[j]) << 16.
__m512i interleave(__m512 lo, __m512 hi) {
  alignas(64) static const std::uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                      21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                      11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i converted = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
  return _mm512_permutexvar_epi16(_mm512_load_si512(order), converted);
}

// A word of two scalars, for the transposed-B packing.
std::uint32_t pair_word(float lo, float hi) {
  return std::uint32_t{bf16_bits(lo)} | std::uint32_t{bf16_bits(hi)} << 16;
}

// k in equal blocks of at most KC, each of an even length but perhaps the last.
std::size_t k_block(std::size_t k) {
  const std::size_t kb = ceil_div(k, ceil_div(k, KC));
  return kb + (kb & 1);
}

// Where the panel of B's rows [pc, pc + kb) and columns [jc, jc + NC) starts, in words: panels
// of NC columns one after the other (each ceil(k / 2) pairs of NC words, the last panel's width
// rounded up to NR), and within one, its k blocks in order.
std::size_t packed_panel(std::size_t k, std::size_t n, std::size_t jc, std::size_t pc) {
  const std::size_t width = min_sz(NC, ceil_div(n - jc, NR) * NR);
  return jc * ceil_div(k, 2) + pc / 2 * width;
}

std::size_t packed_b_floats(std::size_t k, std::size_t n) {
  return ceil_div(k, 2) * ceil_div(n, NR) * NR;
}

// op(B)[pc:pc+kc, jc:jc+nc] into slivers of NR columns: sliver s holds ceil(kc / 2) rows of NR
// words, columns past nc zero.
void pack_b(const GemmArgs& g, std::size_t pc, std::size_t kc, std::size_t jc, std::size_t nc,
            std::uint32_t* dst) {
  const std::size_t kp = ceil_div(kc, 2);
  for (std::size_t jr = 0; jr < nc; jr += NR, dst += kp * NR) {
    const std::size_t nr = min_sz(NR, nc - jr);
    if (g.tb == Trans::No) {
      for (std::size_t q = 0; q < kp; ++q) {
        const float* lo = g.b + (pc + 2 * q) * g.ldb + jc + jr;
        const bool second = 2 * q + 1 < kc;
        for (int v = 0; v < NV; ++v) {
          const std::size_t at = static_cast<std::size_t>(v) * W;
          const __mmask16 mask = lanes(nr > at ? nr - at : 0);
          const __m512 l = _mm512_maskz_loadu_ps(mask, lo + at);
          const __m512 h =
              second ? _mm512_maskz_loadu_ps(mask, lo + g.ldb + at) : _mm512_setzero_ps();
          _mm512_store_si512(dst + q * NR + at, interleave(l, h));
        }
      }
    } else {
      // op(B)[p][j] = b[j * ldb + p]: a column's pairs are side by side in b's row j.
      for (std::size_t j = 0; j < static_cast<std::size_t>(NR); ++j) {
        const float* src = g.b + (jc + jr + j) * g.ldb + pc;
        for (std::size_t q = 0; q < kp; ++q)
          dst[q * NR + j] =
              j < nr ? pair_word(src[2 * q], 2 * q + 1 < kc ? src[2 * q + 1] : 0.0f) : 0u;
      }
    }
  }
}

// op(B) [k, n] packed whole, in the panels block() reads.
void pack_b_all(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                float* dst_floats) {
  auto* dst = reinterpret_cast<std::uint32_t*>(dst_floats);
  GemmArgs g{};
  g.tb = tb;
  g.b = b;
  g.ldb = ldb;
  const std::size_t kb = k_block(k);
  for (std::size_t jc = 0; jc < n; jc += NC)
    for (std::size_t pc = 0; pc < k; pc += kb)
      pack_b(g, pc, min_sz(kb, k - pc), jc, min_sz(NC, n - jc), dst + packed_panel(k, n, jc, pc));
}

// Rows [p0, p1) of the packed weighted sums of nine matrices (GemmFns::pack_b_combined), each
// value made in float exactly as the float GEMM's packer makes it (a product, then eight fused
// multiply-adds in order), then rounded: a packed row q holds k rows 2q and 2q + 1, so a thread's
// range is widened to whole pairs (rows of a pair are written by the thread owning the first).
void pack_b_combined(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                     std::size_t tap_stride, const float* coef, float* const* dst_floats,
                     std::size_t outs, std::size_t p0, std::size_t p1) {
  constexpr std::size_t T = 9;
  const std::size_t kb = k_block(k);
  const auto combine = [&](const float* src, const float* c, __mmask16 mask) {
    __m512 acc = _mm512_mul_ps(_mm512_set1_ps(c[0]), _mm512_maskz_loadu_ps(mask, src));
    for (std::size_t t = 1; t < T; ++t)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(c[t]), _mm512_maskz_loadu_ps(mask, src + t * tap_stride),
                            acc);
    return acc;
  };
  for (std::size_t p = p0 + (p0 & 1); p < p1 + (p1 & 1) && p < k; p += 2) {
    const std::size_t pc = p - p % kb, kc = min_sz(kb, k - pc);
    const bool second = p + 1 < k;
    for (std::size_t j = 0; j < n; j += NR) {
      const std::size_t jc = j - j % NC, nr = min_sz(NR, n - j), kp = ceil_div(kc, 2);
      const std::size_t at = packed_panel(k, n, jc, pc) + (j - jc) * kp + (p - pc) / 2 * NR;
      for (int v = 0; v < NV; ++v) {
        const std::size_t col = static_cast<std::size_t>(v) * W;
        const __mmask16 mask = lanes(nr > col ? nr - col : 0);
        const float* src = b + p * ldb + j + col;
        for (std::size_t o = 0; o < outs; ++o) {
          const __m512 lo = combine(src, coef + o * T, mask);
          const __m512 hi = second ? combine(src + ldb, coef + o * T, mask) : _mm512_setzero_ps();
          _mm512_store_si512(reinterpret_cast<std::uint32_t*>(dst_floats[o]) + at + col,
                             interleave(lo, hi));
        }
      }
    }
  }
}

// Rows [ic, ic + mr) of op(A)[:, pc:pc+kc] into an MR-row sliver. A by rows: row i's ceil(kc/2)
// words at dst + i * kp (rows past mr zero). A transposed: pair q's MR words at dst + q * MR.
void pack_a(const GemmArgs& g, std::size_t ic, std::size_t mr, std::size_t pc, std::size_t kc,
            std::uint32_t* dst) {
  const std::size_t kp = ceil_div(kc, 2);
  if (g.ta == Trans::No) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i) {
      std::uint32_t* d = dst + i * kp;
      if (i >= mr) {
        std::memset(d, 0, kp * sizeof(std::uint32_t));
        continue;
      }
      const float* src = g.a + (ic + i) * g.lda + pc;
      for (std::size_t p = 0; p < kc; p += 2 * W) {
        const std::size_t left = kc - p;
        const __m512 lo = _mm512_maskz_loadu_ps(lanes(left), src + p);
        const __m512 hi = _mm512_maskz_loadu_ps(lanes(left > W ? left - W : 0), src + p + W);
        const __m512i words = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
        _mm512_mask_storeu_epi32(d + p / 2, lanes(ceil_div(left, 2)), words);
      }
    }
  } else {
    const __mmask16 rows = lanes(mr);
    for (std::size_t q = 0; q < kp; ++q) {
      const float* lo = g.a + (pc + 2 * q) * g.lda + ic;
      const __m512 l = _mm512_maskz_loadu_ps(rows, lo);
      const __m512 h =
          2 * q + 1 < kc ? _mm512_maskz_loadu_ps(rows, lo + g.lda) : _mm512_setzero_ps();
      _mm512_mask_storeu_epi32(dst + q * MR, lanes(MR), interleave(l, h));
    }
  }
}

// C[MR, NR] (row stride ldc) = alpha * sum over pairs of A's words times B's + beta * C. Rows:
// A's row i at a + i * kp, else pair q's MR words at a + q * MR.
template <bool Rows>
void kernel(std::size_t kp, const std::uint32_t* a, const std::uint32_t* b, float* c,
            std::size_t ldc, float alpha, float beta) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1, 3);
  __m512 acc[MR][NV];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::size_t q = 0; q < kp; ++q) {
    __m512bh bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = reinterpret_cast<__m512bh>(_mm512_load_si512(b + v * W));
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      const std::uint32_t word = Rows ? a[static_cast<std::size_t>(i) * kp] : a[i];
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(word)));
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
    }
    b += NR;
    a += Rows ? 1 : MR;
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      float* cp = c + i * ldc + v * W;
      if (beta == 0.0f)
        _mm512_storeu_ps(cp, _mm512_mul_ps(va, acc[i][v]));
      else
        _mm512_storeu_ps(cp,
                         _mm512_fmadd_ps(va, acc[i][v],
                                         _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(cp))));
    }
}

// C[m0:m1, n0:n1] on the calling thread; kb is the k block length.
void block(const GemmArgs& g, std::size_t m0, std::size_t m1, std::size_t n0, std::size_t n1,
           std::size_t kb) {
  std::uint32_t* const bpack = scratch();
  std::uint32_t* const apack = bpack + kBWords;
  float* const tile = reinterpret_cast<float*>(apack + kAWords);
  const auto* bp = reinterpret_cast<const std::uint32_t*>(g.bp);
  const bool rows = g.ta == Trans::No;
  for (std::size_t jc = n0, nc; jc < n1; jc += nc) {
    nc = min_sz(bp ? NC - jc % NC : NC, n1 - jc);
    for (std::size_t pc = 0; pc < g.k; pc += kb) {
      const std::size_t kc = min_sz(kb, g.k - pc), kp = ceil_div(kc, 2);
      const float beta = pc == 0 ? g.beta : 1.0f;
      const std::uint32_t* bpanel = bpack;
      if (bp)
        bpanel = bp + packed_panel(g.k, g.n, jc - jc % NC, pc) + jc % NC * kp;
      else
        pack_b(g, pc, kc, jc, nc, bpack);
      for (std::size_t ic = m0; ic < m1; ic += MR) {
        const std::size_t mr = min_sz(MR, m1 - ic);
        pack_a(g, ic, mr, pc, kc, apack);
        for (std::size_t jr = 0; jr < nc; jr += NR) {
          const std::size_t nr = min_sz(NR, nc - jr);
          const std::uint32_t* bs = bpanel + jr * kp;
          float* cp = g.c + ic * g.ldc + jc + jr;
          const bool full =
              mr == static_cast<std::size_t>(MR) && nr == static_cast<std::size_t>(NR);
          float* out = full ? cp : tile;
          const std::size_t ldo = full ? g.ldc : NR;
          if (!full)
            for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i)
              for (std::size_t j = 0; j < static_cast<std::size_t>(NR); ++j)
                tile[i * NR + j] = beta != 0.0f && i < mr && j < nr ? cp[i * g.ldc + j] : 0.0f;
          if (rows)
            kernel<true>(kp, apack, bs, out, ldo, g.alpha, beta);
          else
            kernel<false>(kp, apack, bs, out, ldo, g.alpha, beta);
          if (!full)
            for (std::size_t i = 0; i < mr; ++i)
              for (std::size_t j = 0; j < nr; ++j) cp[i * g.ldc + j] = tile[i * NR + j];
        }
      }
    }
  }
}

void run(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) return scale_c(g);
  const std::size_t kb = k_block(g.k);
  // Threads as the float GEMM's, from twice its work: the products run twice as fast.
  run_tiled(g, MR, NR, std::size_t{1} << 22,
            [&](std::size_t m0, std::size_t m1, std::size_t n0, std::size_t n1) {
              block(g, m0, m1, n0, n1, kb);
            });
}

}  // namespace
}  // namespace avx512bf16

const GemmFns* gemm_avx512_bf16() {
  static const GemmFns fns{avx512bf16::run, avx512bf16::packed_b_floats, avx512bf16::pack_b_all,
                           avx512bf16::pack_b_combined};
  static const bool usable = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return usable ? &fns : nullptr;
}

}  // namespace cnn::kernels::simd
