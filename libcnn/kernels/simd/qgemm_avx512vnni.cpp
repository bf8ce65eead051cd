// The int8 product on AVX512_VNNI (compiled with -mavx512vnni and the AVX-512 flags only here):
// sums of u8 x s8 products in int32, then qgemm.hpp's epilogue.
//
// The float GEMM's scheme (gemm_impl.hpp) with k taken four at a time: vpdpbusd multiplies the
// four unsigned bytes of a lane of A by the four signed bytes of the lane of B and adds the four
// products to the lane's int32 (exactly: no intermediate saturation, unlike AVX2's vpmaddubsw).
//   - B is packed once (PackedQB): panels of NC = 512 columns, k blocks of at most KC, and in
//     each, slivers of NR = 32 columns: for each quad q of k rows, 32 words of 4 bytes, word j =
//     B(4q..4q+3, j). k is padded with zeros to a multiple of 4.
//   - A is read where it lies when k is a multiple of 4 (the convolutions: 9 x channels, 1x1 on a
//     multiple of 4 channels); otherwise, and for the last rows, it is copied one 14-row sliver
//     at a time, each row's kc bytes padded with zeros to whole quads.
//   - The micro-kernel broadcasts a row's quad and runs 14 x 2 vpdpbusd per quad: 28 accumulators
//     (16 columns each), 2 B vectors, 1 broadcast in the 32 zmm registers. The sums go to a
//     staging tile; the epilogue (or the int32 store) runs from there on the valid part.
// KC = 1536 bytes of k (a 14-row A sliver of 21 KiB in L1d; a 1536 x 512 B panel of 768 KiB in
// L2, as the float GEMM's 384 x 512 floats). The convolutions' k (9 x channels up to 1536 = 170
// channels; 1x1 layers up to 1536) is one block: no int32 C is written at all.
// GCC 12 warns that the unmasked AVX-512 intrinsics' undefined passthrough "may be used
// uninitialized" once they are inlined; the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "kernels/simd/qgemm_simd.hpp"

namespace cnn::kernels::simd {
namespace vnni {
namespace {

constexpr int MR = static_cast<int>(kQConvTile), NV = 2, W = 16, NR = NV * W;
constexpr std::size_t KC = kQConvMaxK, NC = 512;

std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

__mmask16 lanes(std::size_t count) {
  return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << count) - 1);
}

// k in equal blocks of at most KC, each a multiple of 4 but perhaps the last.
std::size_t k_block(std::size_t k) {
  const std::size_t kb = ceil_div(k, ceil_div(k, KC));
  return ceil_div(kb, 4) * 4;
}

// Where the block of B's rows [pc, ...) and columns [jc, jc + NC) starts, in bytes: panels of NC
// columns one after the other (each ceil(k / 4) quads of NC words, the last one's width rounded
// up to NR), and within one, its k blocks in order.
std::size_t packed_panel(std::size_t k, std::size_t n, std::size_t jc, std::size_t pc) {
  const std::size_t width = min_sz(NC, ceil_div(n - jc, NR) * NR);
  return 4 * (jc * ceil_div(k, 4) + pc / 4 * width);
}

std::size_t packed_bytes(std::size_t k, std::size_t n) {
  return 4 * ceil_div(k, 4) * ceil_div(n, NR) * NR;
}

void pack(std::size_t k, std::size_t n, const std::int8_t* b, std::size_t ldb, std::uint8_t* dst) {
  const std::size_t kb = k_block(k);
  for (std::size_t jc = 0; jc < n; jc += NC)
    for (std::size_t pc = 0; pc < k; pc += kb) {
      const std::size_t kc = min_sz(kb, k - pc), kq = ceil_div(kc, 4), nc = min_sz(NC, n - jc);
      std::uint8_t* panel = dst + packed_panel(k, n, jc, pc);
      for (std::size_t jr = 0; jr < nc; jr += NR) {
        std::uint8_t* sliver = panel + jr * kq * 4;
        for (std::size_t q = 0; q < kq; ++q)
          for (std::size_t j = 0; j < static_cast<std::size_t>(NR); ++j)
            for (std::size_t r = 0; r < 4; ++r) {
              const std::size_t p = 4 * q + r, col = jc + jr + j;
              sliver[(q * NR + j) * 4 + r] =
                  p < kc && col < n ? static_cast<std::uint8_t>(b[(pc + p) * ldb + col]) : 0;
            }
      }
    }
}

// The sums of one Rows x NR tile, over taps runs of kq quads each, A's row i of run t starting
// at a + t * tap_stride + (i % PerLine) * lda + (i / PerLine) * lda2 bytes (PerLine rows a line,
// the lines lda2 apart), B's quads one after the other (a plain product is one run):
// out(acc), the tile's sums still in registers (acc[i]: row i's NV vectors).
template <int Rows, int PerLine, class Out>
inline __attribute__((always_inline)) void kernel_lines(std::size_t taps, std::size_t tap_stride,
                                                        std::size_t kq, const std::uint8_t* a,
                                                        std::size_t lda, std::size_t lda2,
                                                        const std::uint8_t* b, Out out) {
  __m512i acc[Rows][NV];
#pragma GCC unroll 14
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
  for (std::size_t t = 0; t < taps; ++t, a += tap_stride)
    for (std::size_t q = 0; q < kq; ++q) {
      __m512i bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_si512(b + v * 64);
#pragma GCC unroll 14
      for (int i = 0; i < Rows; ++i) {
        std::int32_t word;
        std::memcpy(&word,
                    a + static_cast<std::size_t>(i % PerLine) * lda +
                        static_cast<std::size_t>(i / PerLine) * lda2 + q * 4,
                    4);
        const __m512i av = _mm512_set1_epi32(word);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], av, bv[v]);
      }
      b += NR * 4;
    }
  out(acc);
}

// The sums of one MR x NR tile, A's row i of run t at a + t * tap_stride + i * lda: out(i, sums)
// for each row i.
template <class Out>
inline __attribute__((always_inline)) void kernel(std::size_t taps, std::size_t tap_stride,
                                                  std::size_t kq, const std::uint8_t* a,
                                                  std::size_t lda, const std::uint8_t* b, Out out) {
  kernel_lines<MR, MR>(taps, tap_stride, kq, a, lda, 0, b, [&out](const __m512i(&acc)[MR][NV]) {
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) out(i, acc[i]);
  });
}

// The sums of one MR x NR tile into tile (NR int32 per row).
__attribute__((noinline)) void kernel_tile(std::size_t kq, const std::uint8_t* a, std::size_t lda,
                                           const std::uint8_t* b, std::int32_t* tile) {
  kernel(1, 0, kq, a, lda, b, [tile](int i, const __m512i* sums) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm512_store_si512(tile + i * NR + v * W, sums[v]);
  });
}

// The epilogue of one sliver of columns [j0, j0 + nr), nr <= NR: its per-column values in
// registers (qgemm.hpp's formula, the zero point's offset taken once per sliver).
struct SliverEpilogue {
  __m512i offset[NV];
  __m512 scale[NV], bias[NV];
  __mmask16 mask[NV];
  bool relu;
  SliverEpilogue() = default;
  SliverEpilogue(std::size_t nr, std::size_t j0, const std::int32_t* colsum, const QEpilogue& ep)
      : relu(ep.relu) {
    for (int v = 0; v < NV; ++v) {
      const std::size_t j = j0 + static_cast<std::size_t>(v) * W;
      const std::size_t cols = nr > static_cast<std::size_t>(v) * W ? nr - v * W : 0;
      mask[v] = cols ? lanes(cols) : __mmask16(0);
      offset[v] = _mm512_mullo_epi32(_mm512_set1_epi32(ep.zero_point),
                                     _mm512_maskz_loadu_epi32(mask[v], colsum + j));
      scale[v] = _mm512_maskz_loadu_ps(mask[v], ep.scale + j);
      bias[v] = ep.bias ? _mm512_maskz_loadu_ps(mask[v], ep.bias + j) : _mm512_setzero_ps();
    }
  }
  // One row's sums to its floats at y (column j0).
  void store(const __m512i* sums, float* y) const {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums[v], offset[v]));
      __m512 out = _mm512_fmadd_ps(scale[v], f, bias[v]);
      if (relu) out = _mm512_max_ps(out, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(y + v * W, mask[v], out);
    }
  }
};

// The sums of one MR x NR tile (taps runs of kq quads, as kernel) through the sliver's
// epilogue: row i to column j0 of rows[i], none where rows[i] is null.
__attribute__((noinline)) void kernel_epilogue(std::size_t taps, std::size_t tap_stride,
                                               std::size_t kq, const std::uint8_t* a,
                                               std::size_t lda, const std::uint8_t* b,
                                               const SliverEpilogue& e, float* const* rows,
                                               std::size_t j0) {
  kernel(taps, tap_stride, kq, a, lda, b, [&e, rows, j0](int i, const __m512i* sums) {
    if (rows[i]) e.store(sums, rows[i] + j0);
  });
}

// The tile's valid mr x nr part at C(i0, j0): added to the sums of the k blocks before (first:
// none), then stored as int32 to c, or (last, with e) through the sliver's epilogue to y.
void finish(const std::int32_t* tile, std::size_t mr, std::size_t nr, std::size_t i0,
            std::size_t j0, bool first, bool last, std::int32_t* c, std::size_t ldc,
            const SliverEpilogue* e, const QEpilogue* ep) {
  for (std::size_t i = 0; i < mr; ++i) {
    __m512i acc[NV];
    for (int v = 0; v < NV; ++v) {
      const std::size_t j = j0 + static_cast<std::size_t>(v) * W;
      const std::size_t cols = nr > static_cast<std::size_t>(v) * W ? nr - v * W : 0;
      acc[v] = _mm512_load_si512(tile + i * NR + v * W);
      if (cols == 0 || first) continue;
      acc[v] =
          _mm512_add_epi32(acc[v], _mm512_maskz_loadu_epi32(lanes(cols), c + (i0 + i) * ldc + j));
    }
    if (last && e) {
      e->store(acc, ep->y + (i0 + i) * ep->ldy + j0);
      continue;
    }
    for (int v = 0; v < NV; ++v) {
      const std::size_t cols = nr > static_cast<std::size_t>(v) * W ? nr - v * W : 0;
      if (cols > 0) _mm512_mask_storeu_epi32(c + (i0 + i) * ldc + j0 + v * W, lanes(cols), acc[v]);
    }
  }
}

// qgemm_simd.hpp's conv: a tile's A rows are windows where they lie. Across rows (stride 1,
// where that computes fewer windows: qconv_across_rows): 14 consecutive "virtual rows" (windows
// at every pixel of the padded rows, those across a row's end dropped). Else 14 windows of one
// output row, sw * c bytes apart. The epilogue runs on the sums in registers (for a thin layer,
// 9 quads a tile, storing the tile and reading it back cost as much as its products).
void conv(const std::uint8_t* in, std::size_t wp, std::size_t c, std::size_t kh, std::size_t kw,
          std::size_t sh, std::size_t sw, std::size_t out_w, std::size_t rows,
          const std::uint8_t* bp, std::size_t n, const std::int32_t* colsum, const QEpilogue& ep) {
  const std::size_t k = kh * kw * c, kq_tap = kw * c / 4, tap_stride = wp * c;
  float* row_y[MR];             // the tile's rows' outputs at column 0 (null: a window thrown away)
  SliverEpilogue eps[NC / NR];  // the panel's slivers' epilogues, made once per panel
  for (std::size_t jc = 0; jc < n; jc += NC) {
    const std::size_t nc = min_sz(NC, n - jc);
    const std::uint8_t* panel = bp + packed_panel(k, n, jc, 0);
    for (std::size_t jr = 0; jr < nc; jr += NR)
      eps[jr / NR] = SliverEpilogue(min_sz(NR, nc - jr), jc + jr, colsum, ep);
    const auto tile = [&](const std::uint8_t* a, std::size_t lda) {
      for (std::size_t jr = 0; jr < nc; jr += NR)
        kernel_epilogue(kh, tap_stride, kq_tap, a, lda, panel + jr * k, eps[jr / NR], row_y,
                        jc + jr);
    };
    if (qconv_across_rows(wp, out_w, rows, sh, sw)) {
      const std::size_t r1 = (rows - 1) * wp + out_w;
      std::size_t oy = 0, ox = 0;  // the padded pixel of virtual row ic
      for (std::size_t ic = 0; ic < r1; ic += MR) {
        const std::size_t mr = min_sz(MR, r1 - ic);
        if (mr == static_cast<std::size_t>(MR) && ox + MR <= out_w) {
          // The whole tile inside one output row (most tiles of a wide row).
          float* const y0 = ep.y + (oy * out_w + ox) * ep.ldy;
#pragma GCC unroll 14
          for (int i = 0; i < MR; ++i) row_y[i] = y0 + static_cast<std::size_t>(i) * ep.ldy;
          ox += MR;
        } else {
          for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i) {
            // A window across the row's end, or past the last row, is dropped.
            row_y[i] = i < mr && ox < out_w ? ep.y + (oy * out_w + ox) * ep.ldy : nullptr;
            if (++ox == wp) ox = 0, ++oy;
          }
        }
        if (ox == wp) ox = 0, ++oy;
        tile(in + ic * c, c);
      }
      continue;
    }
    for (std::size_t oy = 0; oy < rows; ++oy)
      for (std::size_t ox0 = 0; ox0 < out_w; ox0 += MR) {
        const std::size_t mr = min_sz(MR, out_w - ox0);
        for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i)
          row_y[i] = i < mr ? ep.y + (oy * out_w + ox0 + i) * ep.ldy : nullptr;
        tile(in + (oy * sh * wp + ox0 * sw) * c, sw * c);
      }
  }
}

// conv_pool2's tile: 2 lines (output rows 2py and 2py + 1) of PL windows, PL / 2 pooled pixels.
constexpr int PL = 6;

// The sums of one 2 x PL-window tile (lines lda2 apart, windows lda apart), each 2x2 block's
// four maxed in int32, through the sliver's epilogue: pooled pixel p (p < valid) to column j0 of
// y + p * ldy.
__attribute__((noinline)) void kernel_pool2(std::size_t taps, std::size_t tap_stride,
                                            std::size_t kq, const std::uint8_t* a, std::size_t lda,
                                            std::size_t lda2, const std::uint8_t* b,
                                            const SliverEpilogue& e, float* y, std::size_t ldy,
                                            std::size_t valid, std::size_t j0) {
  kernel_lines<2 * PL, PL>(
      taps, tap_stride, kq, a, lda, lda2, b, [&](const __m512i(&acc)[2 * PL][NV]) {
#pragma GCC unroll 3
        for (int p = 0; p < PL / 2; ++p) {
          if (static_cast<std::size_t>(p) >= valid) break;
          __m512i top[NV];
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v)
            top[v] = _mm512_max_epi32(_mm512_max_epi32(acc[2 * p][v], acc[2 * p + 1][v]),
                                      _mm512_max_epi32(acc[PL + 2 * p][v], acc[PL + 2 * p + 1][v]));
          e.store(top, y + static_cast<std::size_t>(p) * ldy + j0);
        }
      });
}

// qgemm_simd.hpp's conv_pool2: each pooled row's windows in tiles of 2 x PL (a tile past the
// row's end computes windows it throws away: at most PL - 2, read within the input's slack).
void conv_pool2(const std::uint8_t* in, std::size_t wp, std::size_t c, std::size_t kh,
                std::size_t kw, std::size_t sh, std::size_t sw, std::size_t pw, std::size_t prows,
                const std::uint8_t* bp, std::size_t n, const std::int32_t* colsum,
                const QEpilogue& ep) {
  const std::size_t k = kh * kw * c, kq_tap = kw * c / 4, tap_stride = wp * c;
  SliverEpilogue eps[NC / NR];
  for (std::size_t jc = 0; jc < n; jc += NC) {
    const std::size_t nc = min_sz(NC, n - jc);
    const std::uint8_t* panel = bp + packed_panel(k, n, jc, 0);
    for (std::size_t jr = 0; jr < nc; jr += NR)
      eps[jr / NR] = SliverEpilogue(min_sz(NR, nc - jr), jc + jr, colsum, ep);
    for (std::size_t py = 0; py < prows; ++py)
      for (std::size_t px = 0; px < pw; px += PL / 2) {
        const std::uint8_t* a = in + (2 * py * sh * wp + 2 * px * sw) * c;
        float* y = ep.y + (py * pw + px) * ep.ldy;
        for (std::size_t jr = 0; jr < nc; jr += NR)
          kernel_pool2(kh, tap_stride, kq_tap, a, sw * c, sh * wp * c, panel + jr * k, eps[jr / NR],
                       y, ep.ldy, min_sz(PL / 2, pw - px), jc + jr);
      }
  }
}

void run(std::size_t m0, std::size_t m1, const std::uint8_t* a, std::size_t lda,
         const std::uint8_t* bp, std::size_t k, std::size_t n, const std::int32_t* colsum,
         std::int32_t* c, std::size_t ldc, const QEpilogue* ep) {
  alignas(64) std::uint8_t apack[MR * KC];
  alignas(64) std::int32_t tile[MR * NR];
  const std::size_t kb = k_block(k);
  // Whole quads in every row (k a multiple of 4): a full sliver is read where it lies.
  const bool in_place = k % 4 == 0;
  for (std::size_t jc = 0; jc < n; jc += NC) {
    const std::size_t nc = min_sz(NC, n - jc);
    for (std::size_t pc = 0; pc < k; pc += kb) {
      const std::size_t kc = min_sz(kb, k - pc), kq = ceil_div(kc, 4);
      const bool first = pc == 0, last = pc + kc == k;
      const std::uint8_t* panel = bp + packed_panel(k, n, jc, pc);
      for (std::size_t ic = m0; ic < m1; ic += MR) {
        const std::size_t mr = min_sz(MR, m1 - ic);
        const std::uint8_t* asl = a + ic * lda + pc;
        std::size_t astride = lda;
        if (!in_place || mr < static_cast<std::size_t>(MR)) {
          for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i) {
            std::uint8_t* row = apack + i * kq * 4;
            const std::size_t valid = i < mr ? kc : 0;
            if (valid) std::memcpy(row, a + (ic + i) * lda + pc, valid);
            std::memset(row + valid, 0, kq * 4 - valid);
          }
          asl = apack;
          astride = kq * 4;
        }
        for (std::size_t jr = 0; jr < nc; jr += NR) {
          const std::size_t nr = min_sz(NR, nc - jr), j0 = jc + jr;
          std::optional<SliverEpilogue> e;
          if (last && ep) e.emplace(nr, j0, colsum, *ep);
          if (first && e) {
            // One k block: the epilogue on the sums in registers.
            float* rows[MR];
            for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i)
              rows[i] = i < mr ? ep->y + (ic + i) * ep->ldy : nullptr;
            kernel_epilogue(1, 0, kq, asl, astride, panel + jr * kq * 4, *e, rows, j0);
            continue;
          }
          kernel_tile(kq, asl, astride, panel + jr * kq * 4, tile);
          finish(tile, mr, nr, ic, j0, first, last, c, ldc, e ? &*e : nullptr, ep);
        }
      }
    }
  }
}

void quantize(const float* x, std::size_t count, float reciprocal, std::int32_t zero_point,
              std::uint8_t* dst) {
  const __m512 r = _mm512_set1_ps(reciprocal), z = _mm512_set1_ps(static_cast<float>(zero_point));
  const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(255.0f);
  // The codes of 16 floats as int32 (exact: whole numbers in [0, 255]).
  const auto codes = [&](__m512 v) {
    __m512 q = _mm512_mul_ps(v, r);
    q = _mm512_add_ps(_mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    // max(q, 0) gives 0 for a NaN q (the second operand), as the portable loop does.
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, lo), hi));
  };
  // 64 at a time packed into one store (a narrowing store to memory, vpmovusdb, costs several
  // cycles on Zen 4 and 5): the packs interleave the four vectors by 128-bit lane, so dword j of
  // lane l holds vector j's codes 4l..4l+3; the permutation puts vector j's at dwords 4j...
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  std::size_t i = 0;
  for (; i + 4 * W <= count; i += 4 * W) {
    const __m512i a =
        _mm512_packus_epi32(codes(_mm512_loadu_ps(x + i)), codes(_mm512_loadu_ps(x + i + W)));
    const __m512i b = _mm512_packus_epi32(codes(_mm512_loadu_ps(x + i + 2 * W)),
                                          codes(_mm512_loadu_ps(x + i + 3 * W)));
    _mm512_storeu_si512(dst + i, _mm512_permutexvar_epi32(order, _mm512_packus_epi16(a, b)));
  }
  for (; i < count; i += W) {
    const __mmask16 mask = lanes(count - i);
    _mm_mask_storeu_epi8(dst + i, mask,
                         _mm512_cvtepi32_epi8(codes(_mm512_maskz_loadu_ps(mask, x + i))));
  }
}

}  // namespace
}  // namespace vnni

const QGemmFns* qgemm_avx512_vnni() {
  static const QGemmFns fns{vnni::packed_bytes, vnni::pack, vnni::run,       vnni::KC,
                            vnni::quantize,     vnni::conv, vnni::conv_pool2};
  static const bool usable = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return usable ? &fns : nullptr;
}

}  // namespace cnn::kernels::simd
