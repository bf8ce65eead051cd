// The SGEMM body, a template on the xsimd architecture, instantiated by simd/gemm_<isa>.cpp (the
// only files compiled with ISA flags). Row-major C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta
// * C.
//
// Scheme (Goto/BLIS, written for row-major C so the vector lanes run along n):
//   for each block of C rows/columns a thread claims (see run())
//   for jc over the block's columns, step NC     B panel: KC x NC floats, packed, lives in L2
//     for pc over k, step kc (<= KC)             (kc is balanced: K split into equal blocks)
//       pack op(B)[pc:pc+kc, jc:jc+NC] into NR-wide slivers (p-major, NR floats per p)
//       for ic over the block's rows, step MR    A sliver: MR x kc floats, lives in L1
//         A sliver = op(A)[ic:ic+MR, pc:pc+kc], read in place, or packed MR-wide (MC rows at a
//         time) when its rows are not contiguous or would collide in L1 (see direct_a)
//         for jr over the panel, step NR          each B sliver streams from L2 once per A sliver
//           micro-kernel: MR x NR accumulators in registers, kc rank-1 updates, then
//           C = alpha * acc + beta * C (beta = 1 after the first k block)
// The micro-kernel keeps MR x NV vector accumulators, broadcasts one A value per row and loads NV
// vectors of B per step: MR*NV FMAs per MR + NV loads. Tile sizes and KC/NC are chosen per ISA by
// the instantiating file, with the reasons there.
//
// Edges: the packed slivers are zero-padded to MR rows / NR columns, so the micro-kernel always
// runs a full tile. A partial C tile is copied into an MR x NR staging tile, updated there by the
// same vector code, and copied back. Every C element therefore sees exactly the same operations
// (kc fused multiply-adds in order of p for each k block, then the same epilogue) wherever it
// sits in the tiling.
//
// Threads split C into blocks of whole tiles (rows first, columns when there are too few rows),
// never the k sum, and the k blocking depends only on k. Each C element is computed by one thread
// with the same operations in the same order whatever the thread count or the thread that takes
// its block, so results are bitwise identical for ANY number of threads (tested for 1, 2, 3).
//
// Everything here sits in a namespace named by CNN_SIMD_NS, which each ISA file defines
// differently: otherwise an inline helper compiled with -mavx512f in one file and without in
// another would be one symbol, and the linker could keep the AVX-512 copy for the SSE2 path.
#pragma once

#ifndef CNN_SIMD_NS
#error "define CNN_SIMD_NS (a namespace name unique to the ISA file) before including gemm_impl.hpp"
#endif

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <xsimd/xsimd.hpp>

#include "kernels/simd/fused.hpp"
#include "kernels/simd/gemm_simd.hpp"

namespace cnn::kernels::simd::CNN_SIMD_NS {

inline std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
inline std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// op(A)[i][p] and op(B)[p][j] for the scalar paths.
inline float at_a(const GemmArgs& g, std::size_t i, std::size_t p) {
  return g.ta == Trans::No ? g.a[i * g.lda + p] : g.a[p * g.lda + i];
}
inline float at_b(const GemmArgs& g, std::size_t p, std::size_t j) {
  return g.tb == Trans::No ? g.b[p * g.ldb + j] : g.b[j * g.ldb + p];
}

// C element update shared by the scalar paths: alpha * acc + beta * c (beta = 0: c not read).
inline void store_scalar(float* c, float acc, float alpha, float beta) {
  *c = beta == 0.0f ? alpha * acc : std::fma(alpha, acc, beta * *c);
}

// Per-thread scratch, allocated on a thread's first large GEMM and kept for the thread's life
// (the pool's workers are persistent, so steady-state calls allocate nothing).
template <std::size_t Floats>
struct Scratch {
  float* data;
  Scratch() {
    constexpr std::size_t bytes = (Floats * sizeof(float) + 63) / 64 * 64;
    data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!data) throw std::bad_alloc();
  }
  ~Scratch() { std::free(data); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// MR x (NV vectors) tile, KC x NC B panel; A, when packed, is packed MCS slivers at a time.
template <class Arch, int MR, int NV, std::size_t KC, std::size_t NC, int MCS = 8>
struct Gemm {
  using V = xsimd::batch<float, Arch>;
  static constexpr int W = static_cast<int>(V::size);
  static constexpr int NR = NV * W;
  static constexpr std::size_t kKC = KC, kNC = NC;  // the k blocks and panels (of B, packed)
  static_assert(NC % NR == 0, "NC must be a multiple of NR");
  static_assert(MCS > 0, "MCS counts slivers");
  // A packed MC rows at a time: with A transposed, each packed row of op(A) is then a contiguous
  // run of MC floats instead of MR floats every lda (few floats per cache line and per page).
  static constexpr std::size_t MC = std::size_t{MR} * MCS;
  // Scratch: packed B panel, packed A block, staging tile for partial C tiles.
  static constexpr std::size_t kBFloats = KC * NC, kAFloats = MC * KC, kTileFloats = MR * NR;

  static float* scratch() {
    thread_local Scratch<kBFloats + kAFloats + kTileFloats> s;
    return s.data;
  }

  // How the micro-kernel reads A: a packed sliver, or op(A) in place, by rows (A not transposed:
  // A(i, p) = a[i * lda + p]) or by columns (A transposed: A(i, p) = a[p * lda + i], the MR
  // values of one p contiguous).
  enum AMode { Packed, Rows, Cols };

  // The micro-kernel: C[MR, NK * W] (row stride ldc) = alpha * sum_p A(:, p) B(p, :) + beta * C,
  // A read as AM says. b is a packed sliver, NR floats per p, 64-byte aligned. NK < NV: only the
  // first NK vectors of the sliver's columns (a narrow C: the rest are padding), each element
  // by the same operations as with all of them.
  template <AMode AM, int NK = NV>
  static void kernel(std::size_t kc, const float* a, std::size_t lda, const float* b, float* c,
                     std::size_t ldc, float alpha, float beta) {
    // Ask for the C tile now, so its lines (written at the end) arrive during the k loop.
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NK * W; v += 16) __builtin_prefetch(c + i * ldc + v, 1, 3);
    V acc[MR][NK];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NK; ++v) acc[i][v] = V(0.0f);
    // Rows of A in place: row 5q + j read at base[q] + j * lda (j < 5), an address mode of one
    // base and lda (or 3 * lda) times 1, 2 or 4. Left to itself the compiler keeps a register
    // per row; 14 rows then spill their offsets to the stack, reloaded every p (14 x 1, hot in
    // L1: 133 -> 148 GFLOP/s on one Zen 5 core, measured alone).
    constexpr int kBases = AM == Rows ? (MR + 4) / 5 : 1;
    const float* base[kBases];
#pragma GCC unroll 8
    for (int q = 0; q < kBases; ++q) base[q] = a + static_cast<std::size_t>(5 * q) * lda;
    const std::size_t lda3 = 3 * lda;
    for (std::size_t p = 0; p < kc; ++p) {
      V bv[NK];
#pragma GCC unroll 8
      for (int v = 0; v < NK; ++v) bv[v] = V::load_aligned(b + v * W);
      if constexpr (AM == Rows) {
        // Opaque to the compiler, so that it keeps the bases rather than one pointer per row.
#pragma GCC unroll 8
        for (int q = 0; q < kBases; ++q) asm("" : "+r"(base[q]));
      }
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const float* ap = a + i;
        if constexpr (AM == Rows) {
          const int j = i % 5;
          const float* r = base[i / 5];
          ap = j == 0   ? r
               : j == 1 ? r + lda
               : j == 2 ? r + 2 * lda
               : j == 3 ? r + lda3
                        : r + 4 * lda;
        }
        const V av(*ap);
#pragma GCC unroll 8
        for (int v = 0; v < NK; ++v) acc[i][v] = fused(av, bv[v], acc[i][v]);
      }
      b += NR;
      if constexpr (AM == Rows) {
#pragma GCC unroll 8
        for (int q = 0; q < kBases; ++q) ++base[q];
      } else {
        a += AM == Packed ? MR : lda;
      }
    }
    const V va(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NK; ++v) (va * acc[i][v]).store_unaligned(c + i * ldc + v * W);
    } else {
      const V vb(beta);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NK; ++v) {
          float* cp = c + i * ldc + v * W;
          fused(va, acc[i][v], vb * V::load_unaligned(cp)).store_unaligned(cp);
        }
    }
  }

  // op(B)[pc:pc+kc, jc:jc+nc] into slivers of NR columns: sliver s holds kc rows of NR floats,
  // columns past nc zero.
  static void pack_b(const GemmArgs& g, std::size_t pc, std::size_t kc, std::size_t jc,
                     std::size_t nc, float* dst) {
    for (std::size_t jr = 0; jr < nc; jr += NR, dst += kc * NR) {
      const std::size_t nr = min_sz(NR, nc - jr);
      if (g.tb == Trans::No) {
        const float* src = g.b + pc * g.ldb + jc + jr;
        for (std::size_t p = 0; p < kc; ++p, src += g.ldb) {
          float* d = dst + p * NR;
          if (nr == NR) {
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) V::load_unaligned(src + v * W).store_aligned(d + v * W);
          } else {
            std::size_t j = 0;
            for (; j < nr; ++j) d[j] = src[j];
            for (; j < NR; ++j) d[j] = 0.0f;
          }
        }
      } else {
        // op(B)[p][j] = b[j * ldb + p]: read each source row along p, write a column of the sliver.
        for (std::size_t j = 0; j < nr; ++j) {
          const float* src = g.b + (jc + jr + j) * g.ldb + pc;
          for (std::size_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
        }
        for (std::size_t j = nr; j < NR; ++j)
          for (std::size_t p = 0; p < kc; ++p) dst[p * NR + j] = 0.0f;
      }
    }
  }

  // op(A)[ic:ic+mc, pc:pc+kc] into ceil(mc / MR) MR-wide slivers of kc groups of MR floats, rows
  // past mc zero.
  static void pack_a(const GemmArgs& g, std::size_t ic, std::size_t mc, std::size_t pc,
                     std::size_t kc, float* dst) {
    const std::size_t slivers = ceil_div(mc, MR);
    if (g.ta == Trans::Yes) {
      const float* src = g.a + pc * g.lda + ic;
      for (std::size_t p = 0; p < kc; ++p, src += g.lda)
        for (std::size_t s = 0; s < slivers; ++s) {
          float* d = dst + s * MR * kc + p * MR;
          const float* sp = src + s * MR;
          const std::size_t mr = min_sz(MR, mc - s * MR);
          if (mr == static_cast<std::size_t>(MR)) {
            std::memcpy(d, sp, sizeof(float) * MR);  // fixed size: a few vector moves
            continue;
          }
          std::size_t i = 0;
          for (; i < mr; ++i) d[i] = sp[i];
          for (; i < static_cast<std::size_t>(MR); ++i) d[i] = 0.0f;
        }
    } else {
      for (std::size_t s = 0; s < slivers; ++s) {
        float* d = dst + s * MR * kc;
        const std::size_t mr = min_sz(MR, mc - s * MR);
        for (std::size_t i = 0; i < mr; ++i) {
          const float* sp = g.a + (ic + s * MR + i) * g.lda + pc;
          for (std::size_t p = 0; p < kc; ++p) d[p * MR + i] = sp[p];
        }
        for (std::size_t i = mr; i < static_cast<std::size_t>(MR); ++i)
          for (std::size_t p = 0; p < kc; ++p) d[p * MR + i] = 0.0f;
      }
    }
  }

  // Rows of op(A) are read in place (no A packing) when they are contiguous. Packing A costs about
  // as much as the micro-kernel work it feeds when n is small (conv shapes have n = 64: each A
  // value meets only 64 columns), and the MR rows of a sliver stay in L1 across the jr loop
  // anyway. The exception is a row stride that puts more than 8 of the MR rows at the same offset
  // modulo 4 KiB: they then share L1 sets (8 ways of 4 KiB) and evict each other, and a packed
  // copy is faster. Measured on Zen 4: 14 rows 4 KiB apart packed 12% faster than in place; 7 rows
  // per set (2 KiB apart) and AVX2's 6 rows at 4 KiB ran 5-10% faster in place.
  static bool direct_a(const GemmArgs& g) {
    // Transposed A (a weight gradient: col^T * dz, the sum over rows) is read in place by
    // columns: each p is MR contiguous floats, and packing it cost a fifth of that GEMM.
    if (g.ta != Trans::No) return true;
    const std::size_t stride = g.lda * sizeof(float);
    const std::size_t low = stride & (~stride + 1);  // largest power of two dividing the stride
    const std::size_t period =
        4096 / (low == 0 || low > 4096 ? 4096 : low);  // rows per 4 KiB cycle
    return ceil_div(MR, period) <= 8;
  }

  // C[m0:m1, n0:n1] on the calling thread; kb is the k block length.
  static void block(const GemmArgs& g, std::size_t m0, std::size_t m1, std::size_t n0,
                    std::size_t n1, std::size_t kb) {
    float* const bpack = scratch();
    float* const apack = bpack + kBFloats;
    float* const tile = apack + kAFloats;
    const bool direct = direct_a(g);
    // A packed B (pack_b_all) is cut on the grid of NC columns from 0: a block that starts inside
    // a panel takes the rest of that panel first.
    for (std::size_t jc = n0, nc; jc < n1; jc += nc) {
      nc = min_sz(g.bp ? NC - jc % NC : NC, n1 - jc);
      for (std::size_t pc = 0; pc < g.k; pc += kb) {
        const std::size_t kc = min_sz(kb, g.k - pc);
        const float beta = pc == 0 ? g.beta : 1.0f;
        const float* bpanel = bpack;
        if (g.bp)
          bpanel = g.bp + packed_panel(g.k, g.n, jc - jc % NC, pc) + jc % NC * kc;
        else
          pack_b(g, pc, kc, jc, nc, bpack);
        for (std::size_t ic = m0; ic < m1; ic += MR) {
          const std::size_t mr = min_sz(MR, m1 - ic);
          const bool in_place = direct && mr == static_cast<std::size_t>(MR);
          const float* asl = apack;  // this sliver, when packed
          if (!direct) {
            if ((ic - m0) % MC == 0) pack_a(g, ic, min_sz(MC, m1 - ic), pc, kc, apack);
            asl = apack + (ic - m0) % MC * kc;
          } else if (!in_place) {
            pack_a(g, ic, mr, pc, kc, apack);
          }
          const float* arow = g.ta == Trans::No ? g.a + ic * g.lda + pc : g.a + pc * g.lda + ic;
          // Ask for the rows of A needed next (to L2) while this sliver computes: the next sliver
          // when A is read in place, the same sliver of the next block when it is packed. MR row
          // streams are more than the hardware prefetchers run ahead on (measured: +15-25% on the
          // conv shapes).
          if (g.ta == Trans::No) {
            const std::size_t ahead = direct ? MR : MC;
            const std::size_t next_rows = ic + ahead < m1 ? min_sz(MR, m1 - ic - ahead) : 0;
            for (std::size_t i = 0; i < next_rows; ++i) {
              const float* r = arow + (ahead + i) * g.lda;
              for (std::size_t p = 0; p < kc; p += 16) __builtin_prefetch(r + p, 0, 2);
            }
          }
          for (std::size_t jr = 0; jr < nc; jr += NR) {
            const std::size_t nr = min_sz(NR, nc - jr);
            const float* bs = bpanel + jr * kc;
            float* cp = g.c + ic * g.ldc + jc + jr;
            if (mr == static_cast<std::size_t>(MR) && nr == static_cast<std::size_t>(NR)) {
              if (!in_place)
                kernel<Packed>(kc, asl, 0, bs, cp, g.ldc, g.alpha, beta);
              else if (g.ta == Trans::No)
                kernel<Rows>(kc, arow, g.lda, bs, cp, g.ldc, g.alpha, beta);
              else
                kernel<Cols>(kc, arow, g.lda, bs, cp, g.ldc, g.alpha, beta);
              continue;
            }
            if constexpr (NV == 2) {
              // One vector of columns (a C W wide: SqueezeNet's 16-filter squeeze layers): the
              // first half of the kernel, straight into C, not a staged tile of twice the work.
              if (mr == static_cast<std::size_t>(MR) && nr == static_cast<std::size_t>(W)) {
                if (!in_place)
                  kernel<Packed, 1>(kc, asl, 0, bs, cp, g.ldc, g.alpha, beta);
                else if (g.ta == Trans::No)
                  kernel<Rows, 1>(kc, arow, g.lda, bs, cp, g.ldc, g.alpha, beta);
                else
                  kernel<Cols, 1>(kc, arow, g.lda, bs, cp, g.ldc, g.alpha, beta);
                continue;
              }
            }
            // Partial tile: stage the valid part of C (zeros elsewhere), run the same code, copy
            // back.
            for (std::size_t i = 0; i < static_cast<std::size_t>(MR); ++i)
              for (std::size_t j = 0; j < static_cast<std::size_t>(NR); ++j)
                tile[i * NR + j] = beta != 0.0f && i < mr && j < nr ? cp[i * g.ldc + j] : 0.0f;
            if (!in_place)
              kernel<Packed>(kc, asl, 0, bs, tile, NR, g.alpha, beta);
            else if (g.ta == Trans::No)
              kernel<Rows>(kc, arow, g.lda, bs, tile, NR, g.alpha, beta);
            else
              kernel<Cols>(kc, arow, g.lda, bs, tile, NR, g.alpha, beta);
            for (std::size_t i = 0; i < mr; ++i)
              for (std::size_t j = 0; j < nr; ++j) cp[i * g.ldc + j] = tile[i * NR + j];
          }
        }
      }
    }
  }

  // k in equal blocks of at most KC (k = 288 is one block, not 256 + 32).
  static std::size_t k_block(std::size_t k) { return ceil_div(k, ceil_div(k, KC)); }

  // Where the panel of B's rows [pc, pc + kb) and columns [jc, jc + NC) starts in a packed B:
  // panels of NC columns one after the other (each k rows of NC floats, the last one's width
  // rounded up to NR), and within one, its k blocks in order.
  static std::size_t packed_panel(std::size_t k, std::size_t n, std::size_t jc, std::size_t pc) {
    const std::size_t width = min_sz(NC, ceil_div(n - jc, NR) * NR);
    return jc * k + pc * width;
  }

  static std::size_t packed_b_floats(std::size_t k, std::size_t n) {
    return k * ceil_div(n, NR) * NR;
  }

  // op(B) [k, n] packed into dst (packed_b_floats(k, n) floats, 64-byte aligned) in the panels
  // that block() reads: a B used by many products is packed once (Winograd's kernels).
  static void pack_b_all(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                         float* dst) {
    GemmArgs g{};
    g.tb = tb;
    g.b = b;
    g.ldb = ldb;
    const std::size_t kb = k_block(k);
    for (std::size_t jc = 0; jc < n; jc += NC)
      for (std::size_t pc = 0; pc < k; pc += kb)
        pack_b(g, pc, min_sz(kb, k - pc), jc, min_sz(NC, n - jc), dst + packed_panel(k, n, jc, pc));
  }

  // Rows [p0, p1) of the packed dst[o] (o < outs; each packed_b_floats(k, n) floats, 64-byte
  // aligned) for dst[o] = sum over t < 9 of coef[9 o + t] * B_t, where B_t = b + t * tap_stride
  // is [k, n] with rows ldb apart: the first term a product, the others fused multiply-adds in
  // order. Winograd's kernel transform packed straight from the nine taps of a 3x3 kernel,
  // which are read once for all the outputs. Columns past n come out zero (times a coefficient).
  static void pack_b_combined(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                              std::size_t tap_stride, const float* coef, float* const* dst,
                              std::size_t outs, std::size_t p0, std::size_t p1) {
    constexpr std::size_t T = 9;
    const std::size_t kb = k_block(k);
    alignas(64) float edge[T * NR];
    for (std::size_t p = p0; p < p1; ++p) {
      const std::size_t pc = p - p % kb, kc = min_sz(kb, k - pc);
      for (std::size_t j = 0; j < n; j += NR) {
        const std::size_t jc = j - j % NC, nr = min_sz(NR, n - j);
        const std::size_t at = packed_panel(k, n, jc, pc) + (j - jc) * kc + (p - pc) * NR;
        const float* src = b + p * ldb + j;
        std::size_t stride = tap_stride;
        if (nr < static_cast<std::size_t>(NR)) {  // the last sliver, zero-padded
          for (std::size_t t = 0; t < T; ++t)
            for (std::size_t i = 0; i < static_cast<std::size_t>(NR); ++i)
              edge[t * NR + i] = i < nr ? src[t * tap_stride + i] : 0.0f;
          src = edge;
          stride = NR;
        }
        for (int v = 0; v < NV; ++v) {
          V g[T];
#pragma GCC unroll 9
          for (std::size_t t = 0; t < T; ++t) g[t] = V::load_unaligned(src + t * stride + v * W);
          for (std::size_t o = 0; o < outs; ++o) {
            const float* c = coef + o * T;
            V acc = V(c[0]) * g[0];
#pragma GCC unroll 8
            for (std::size_t t = 1; t < T; ++t) acc = fused(V(c[t]), g[t], acc);
            acc.store_aligned(dst[o] + at + v * W);
          }
        }
      }
    }
  }

  // Small problems skip packing: it moves O(mk + kn) floats, which is more than the O(mnk) work
  // when that work is tiny, and a 1- or 2-row product (a matrix-vector product, memory-bound) only
  // pays the extra passes over B. Vector lanes run along n when B's rows are contiguous, along k
  // for dot products otherwise.
  static bool small(const GemmArgs& g) { return g.m <= 2 || g.m * g.n * g.k <= 32 * 32 * 32; }

  static void small_gemm(const GemmArgs& g) {
    for (std::size_t i = 0; i < g.m; ++i) {
      float* crow = g.c + i * g.ldc;
      std::size_t j = 0;
      if (g.tb == Trans::No) {
        for (; j + W <= g.n; j += W) {
          V acc(0.0f);
          for (std::size_t p = 0; p < g.k; ++p)
            acc = fused(V(at_a(g, i, p)), V::load_unaligned(g.b + p * g.ldb + j), acc);
          const V va(g.alpha);
          if (g.beta == 0.0f)
            (va * acc).store_unaligned(crow + j);
          else
            fused(va, acc, V(g.beta) * V::load_unaligned(crow + j)).store_unaligned(crow + j);
        }
      } else if (g.ta == Trans::No) {
        const float* arow = g.a + i * g.lda;
        for (; j < g.n; ++j) {
          const float* brow = g.b + j * g.ldb;
          V vacc(0.0f);
          std::size_t p = 0;
          for (; p + W <= g.k; p += W)
            vacc = fused(V::load_unaligned(arow + p), V::load_unaligned(brow + p), vacc);
          float acc = xsimd::hadd(vacc);
          for (; p < g.k; ++p) acc = std::fma(arow[p], brow[p], acc);
          store_scalar(crow + j, acc, g.alpha, g.beta);
        }
      }
      for (; j < g.n; ++j) {
        float acc = 0.0f;
        for (std::size_t p = 0; p < g.k; ++p) acc = std::fma(at_a(g, i, p), at_b(g, p, j), acc);
        store_scalar(crow + j, acc, g.alpha, g.beta);
      }
    }
  }

  static void run(const GemmArgs& g) {
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0) return scale_c(g);
    if (!g.bp && small(g)) return small_gemm(g);
    const std::size_t kb = k_block(g.k);
    // Threads: below ~2 M multiply-adds (~20 us per thread here) a parallel start costs more than
    // it saves.
    run_tiled(g, MR, NR, std::size_t{1} << 21,
              [&](std::size_t m0, std::size_t m1, std::size_t n0, std::size_t n1) {
                block(g, m0, m1, n0, n1, kb);
              });
  }
};

}  // namespace cnn::kernels::simd::CNN_SIMD_NS
