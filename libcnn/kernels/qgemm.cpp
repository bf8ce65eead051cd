// The int8 products: the VNNI kernel where the CPU has it, else the portable loop below. Both
// compute the same int32 sums (integers are exact) and the same epilogue operations.
#include "kernels/qgemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/simd/qgemm_simd.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {
namespace {

const simd::QGemmFns* native_for(Isa isa) {
  return isa == Isa::Avx512 ? simd::qgemm_avx512_vnni() : nullptr;
}

void check_isa(Isa isa) {
  const auto& isas = supported_isas();
  if (isa != Isa::Reference && std::find(isas.begin(), isas.end(), isa) == isas.end())
    throw Error("qgemm: instruction set " + isa_name(isa) + " is not supported by this CPU");
}

// The epilogue of one sum, as qgemm.hpp states it.
float epilogue_of(std::int32_t sum, std::size_t j, const std::int32_t* colsum,
                  const QEpilogue& ep) {
  const float y = std::fma(ep.scale[j], static_cast<float>(sum - ep.zero_point * colsum[j]),
                           ep.bias ? ep.bias[j] : 0.0f);
  return ep.relu ? (y > 0.0f ? y : 0.0f) : y;
}

// Rows [m0, m1) without VNNI: B is kept row-major [k, n]; each row's sums in int32 scratch.
void portable_rows(std::size_t m0, std::size_t m1, const std::uint8_t* a, std::size_t lda,
                   const PackedQB& b, std::int32_t* c, std::size_t ldc, const QEpilogue* ep) {
  const std::size_t k = b.k(), n = b.n();
  const auto* w = reinterpret_cast<const std::int8_t*>(b.data());
  std::vector<std::int32_t> row(n);
  for (std::size_t i = m0; i < m1; ++i) {
    std::fill(row.begin(), row.end(), 0);
    const std::uint8_t* ai = a + i * lda;
    for (std::size_t p = 0; p < k; ++p) {
      const std::int32_t av = ai[p];
      const std::int8_t* wp = w + p * n;
      for (std::size_t j = 0; j < n; ++j) row[j] += av * wp[j];
    }
    for (std::size_t j = 0; j < n; ++j) {
      if (ep)
        ep->y[i * ep->ldy + j] = epilogue_of(row[j], j, b.column_sums().data(), *ep);
      else
        c[i * ldc + j] = row[j];
    }
  }
}

// Rows in blocks of whole 14-row tiles over the threads (each row is computed by one thread,
// the same way whichever: the result does not depend on the thread count).
void run(std::size_t m, const std::uint8_t* a, std::size_t lda, const PackedQB& b, std::int32_t* c,
         std::size_t ldc, const QEpilogue* ep) {
  if (m == 0 || b.n() == 0) return;
  const simd::QGemmFns* native = native_for(b.isa());
  // Sums over more than one k block go through int32 memory between blocks.
  std::vector<std::int32_t> sums;
  if (native && !c && b.k() > native->k_block) {
    sums.resize(m * b.n());
    c = sums.data();
    ldc = b.n();
  }
  constexpr std::size_t kRows = 14;
  const std::size_t tiles = (m + kRows - 1) / kRows;
  const double work = double(m) * double(b.n()) * double(b.k());
  const std::size_t threads = work < double(1 << 22) ? 1 : static_cast<std::size_t>(num_threads());
  const std::size_t blocks = std::min(tiles, threads * 4);
  const auto rows = [&](std::size_t blk) {
    const std::size_t m0 = tiles * blk / blocks * kRows;
    const std::size_t m1 = std::min(m, tiles * (blk + 1) / blocks * kRows);
    if (m0 >= m1) return;
    if (native)
      native->run(m0, m1, a, lda, b.data(), b.k(), b.n(), b.column_sums().data(), c, ldc, ep);
    else
      portable_rows(m0, m1, a, lda, b, c, ldc, ep);
  };
  if (threads == 1)
    for (std::size_t blk = 0; blk < blocks; ++blk) rows(blk);
  else
    parallel_for(0, blocks, rows);
}

}  // namespace

bool native_int8(Isa isa) {
  const auto& isas = supported_isas();
  return std::find(isas.begin(), isas.end(), isa) != isas.end() && native_for(isa) != nullptr;
}

PackedQB::PackedQB(Isa isa) : isa_(isa) { check_isa(isa); }

void PackedQB::pack(std::size_t k, std::size_t n, const std::int8_t* b, std::size_t ldb) {
  k_ = k;
  n_ = n;
  colsum_.assign(n, 0);
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t j = 0; j < n; ++j) colsum_[j] += b[p * ldb + j];
  const simd::QGemmFns* native = native_for(isa_);
  native_ = native != nullptr;
  if (native) {
    data_.resize(native->packed_bytes(k, n));
    native->pack(k, n, b, ldb, data_.data());
    return;
  }
  data_.resize(k * n);
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t j = 0; j < n; ++j)
      data_[p * n + j] = static_cast<std::uint8_t>(b[p * ldb + j]);
}

void qgemm(std::size_t m, const std::uint8_t* a, std::size_t lda, const PackedQB& b,
           const QEpilogue& epilogue) {
  run(m, a, lda, b, nullptr, 0, &epilogue);
}

void quantize_u8(const float* x, std::size_t rows, std::size_t cols, std::size_t ldx, float scale,
                 std::int32_t zero_point, std::uint8_t* dst, Isa isa) {
  check_isa(isa);
  const simd::QGemmFns* native = native_for(isa);
  const float z = static_cast<float>(zero_point), r = 1.0f / scale;
  parallel_for(0, rows, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) {
      const float* src = x + i * ldx;
      std::uint8_t* d = dst + i * cols;
      if (native) {
        native->quantize(src, cols, r, zero_point, d);
        continue;
      }
      for (std::size_t p = 0; p < cols; ++p) {
        const float q = std::nearbyint(src[p] * r) + z;
        d[p] = !(q > 0.0f) ? 0 : q >= 255.0f ? 255 : static_cast<std::uint8_t>(q);
      }
    }
  });
}

namespace {
// n bytes, in 16-byte moves the compiler inlines (a row of a tap is often 48 or 96 bytes: a call
// to memcpy for each cost as much as the product's share of it).
void copy_bytes(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  for (; n >= 16; n -= 16, dst += 16, src += 16) std::memcpy(dst, src, 16);
  for (; n > 0; --n) *dst++ = *src++;
}
}  // namespace

void im2col_u8(const ConvGeometry& g, const std::uint8_t* in, std::uint8_t pad, std::uint8_t* col) {
  const std::size_t c = g.c, row_bytes = g.kw * c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy)
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      std::uint8_t* dst = col + (oy * g.out_w + ox) * g.kh * row_bytes;
      const long x0 = static_cast<long>(ox * g.stride_w) - static_cast<long>(g.pad_left);
      for (std::size_t ky = 0; ky < g.kh; ++ky, dst += row_bytes) {
        const long iy =
            static_cast<long>(oy * g.stride_h + ky * g.dil_h) - static_cast<long>(g.pad_top);
        if (iy < 0 || iy >= static_cast<long>(g.h)) {
          std::memset(dst, pad, row_bytes);
          continue;
        }
        const std::uint8_t* src = in + static_cast<std::size_t>(iy) * g.w * c;
        if (g.dil_w == 1 && x0 >= 0 && x0 + static_cast<long>(g.kw) <= static_cast<long>(g.w)) {
          copy_bytes(dst, src + static_cast<std::size_t>(x0) * c, row_bytes);  // the whole row
          continue;
        }
        for (std::size_t kx = 0; kx < g.kw; ++kx) {
          const long ix = x0 + static_cast<long>(kx * g.dil_w);
          if (ix < 0 || ix >= static_cast<long>(g.w))
            std::memset(dst + kx * c, pad, c);
          else
            copy_bytes(dst + kx * c, src + static_cast<std::size_t>(ix) * c, c);
        }
      }
    }
}

void qgemm(std::size_t m, const std::uint8_t* a, std::size_t lda, const PackedQB& b,
           std::int32_t* c, std::size_t ldc) {
  run(m, a, lda, b, c, ldc, nullptr);
}

}  // namespace cnn::kernels
