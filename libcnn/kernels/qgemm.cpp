// The int8 products: the VNNI kernel where the CPU has it, else the portable loop below. Both
// compute the same int32 sums (integers are exact) and the same epilogue operations.
#include "kernels/qgemm.hpp"

#include <algorithm>
#include <bit>
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

bool native_int8(Isa isa) { return isa_runs(isa) && native_for(isa) != nullptr; }

PackedQB::PackedQB(Isa isa) : isa_(isa) { require_isa(isa, "qgemm"); }

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

namespace {
// count values of src to bytes: quantize_u8's formula with r = 1 / scale.
void quantize_row(const simd::QGemmFns* native, const float* src, std::size_t count, float r,
                  std::int32_t zero_point, std::uint8_t* d) {
  if (native) {
    native->quantize(src, count, r, zero_point, d);
    return;
  }
  const float z = static_cast<float>(zero_point);
  for (std::size_t p = 0; p < count; ++p) {
    const float q = std::nearbyint(src[p] * r) + z;
    d[p] = !(q > 0.0f) ? 0 : q >= 255.0f ? 255 : static_cast<std::uint8_t>(q);
  }
}

// The cells of a window along a row: kw, or one with packed taps.
std::size_t cell_kw(const ConvGeometry& g) { return qconv_packs_taps(g) ? 1 : g.kw; }
// The padded sample's sizes (qconv_fits' geometries): the cells the windows cover.
std::size_t padded_h(const ConvGeometry& g) { return (g.out_h - 1) * g.stride_h + g.kh; }
std::size_t padded_w(const ConvGeometry& g) { return (g.out_w - 1) * g.stride_w + cell_kw(g); }
// The padded row's pixels (with packed taps: the bytes the cells take theirs from).
std::size_t padded_pixels(const ConvGeometry& g) { return (g.out_w - 1) * g.stride_w + g.kw; }
// Bytes a tile's windows may read past the last sample: 14 windows, stride_w pixels apart.
std::size_t conv_slack(const ConvGeometry& g) {
  return (14 * g.stride_w + g.kw) * qconv_channels(g) + 64;
}
}  // namespace

void quantize_u8(const float* x, std::size_t rows, std::size_t cols, std::size_t ldx, float scale,
                 std::int32_t zero_point, std::uint8_t* dst, Isa isa) {
  require_isa(isa, "qgemm");
  const simd::QGemmFns* native = native_for(isa);
  const float r = 1.0f / scale;
  parallel_for(0, rows, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i)
      quantize_row(native, x + i * ldx, cols, r, zero_point, dst + i * cols);
  });
}

bool qconv_packs_taps(const ConvGeometry& g) { return g.c == 1 && g.kw >= 2 && g.kw <= 4; }

std::size_t qconv_channels(const ConvGeometry& g) { return (g.c + 3) / 4 * 4; }

std::size_t qconv_k(const ConvGeometry& g) { return g.kh * cell_kw(g) * qconv_channels(g); }

bool qconv_geometry_fits(const ConvGeometry& g) {
  return g.dil_h == 1 && g.dil_w == 1 && g.kh * g.kw > 1 && qconv_k(g) <= simd::kQConvMaxK &&
         g.out_h > 0 && g.out_w > 0;
}

bool qconv_fits(const ConvGeometry& g, Isa isa) {
  return native_int8(isa) && qconv_geometry_fits(g);
}

bool qconv_fits(const ConvGeometry& g, const PackedQB& b) {
  return b.k() == qconv_k(g) && qconv_fits(g, b.isa());
}

std::size_t qconv_sample_bytes(const ConvGeometry& g) {
  return padded_h(g) * padded_w(g) * qconv_channels(g);
}

std::size_t qconv_input_bytes(const ConvGeometry& g, std::size_t n) {
  return n * qconv_sample_bytes(g) + conv_slack(g);
}

namespace {
// quantize_conv_row with its ISA checked by the caller (once per input, not once per row).
void conv_row(const simd::QGemmFns* native, const ConvGeometry& g, const float* x, float scale,
              std::int32_t zero_point, std::size_t y, std::uint8_t* sample) {
  const std::size_t hp = padded_h(g), wp = padded_w(g), c = g.c, cp = qconv_channels(g);
  if (y + g.pad_top >= hp) return;  // a row no window reads
  const auto zp = static_cast<std::uint8_t>(zero_point);
  std::uint8_t* d = sample + (y + g.pad_top) * wp * cp;
  if (qconv_packs_taps(g)) {
    // The padded row's bytes (3 to spare, read by the last cells), then cell x = bytes x..x+3.
    const std::size_t pixels = padded_pixels(g);
    const std::size_t left = std::min(g.pad_left, pixels), inside = std::min(g.w, pixels - left);
    thread_local std::vector<std::uint8_t> line;
    line.assign(pixels + 3, zp);
    quantize_row(native, x, inside, 1.0f / scale, zero_point, line.data() + left);
    for (std::size_t i = 0; i < wp; ++i) std::memcpy(d + i * 4, line.data() + i, 4);
    return;
  }
  const std::size_t left = std::min(g.pad_left, wp), inside = std::min(g.w, wp - left);
  std::memset(d, zp, left * cp);
  if (cp == c) {
    quantize_row(native, x, inside * c, 1.0f / scale, zero_point, d + left * c);
  } else {
    // Channels widened to cp, byte by byte: 3 channels of an image are too short a copy for
    // memcpy calls.
    thread_local std::vector<std::uint8_t> narrow;
    narrow.resize(inside * c + 4);  // + 4: a pixel's word read whole below
    quantize_row(native, x, inside * c, 1.0f / scale, zero_point, narrow.data());
    const std::uint8_t* from = narrow.data();
    std::uint8_t* px = d + left * cp;
    if (cp == 4 && std::endian::native == std::endian::little) {
      // 1 to 3 channels (a first layer): one word per pixel, its c bytes and the zero point's.
      const std::uint32_t keep = (std::uint32_t{1} << (8 * c)) - 1;
      const std::uint32_t pad = zp * 0x01010101u & ~keep;
      for (std::size_t i = 0; i < inside; ++i, px += 4, from += c) {
        std::uint32_t word;
        std::memcpy(&word, from, 4);
        word = (word & keep) | pad;
        std::memcpy(px, &word, 4);
      }
    } else {
      for (std::size_t i = 0; i < inside; ++i, px += cp, from += c)
        for (std::size_t ci = 0; ci < cp; ++ci) px[ci] = ci < c ? from[ci] : zp;
    }
  }
  std::memset(d + (left + inside) * cp, zp, (wp - left - inside) * cp);
}
}  // namespace

void quantize_conv_row(const ConvGeometry& g, const float* x, float scale, std::int32_t zero_point,
                       std::size_t y, std::uint8_t* sample, Isa isa) {
  require_isa(isa, "qgemm");
  conv_row(native_for(isa), g, x, scale, zero_point, y, sample);
}

void fill_conv_padding(const ConvGeometry& g, std::size_t n, std::int32_t zero_point,
                       std::uint8_t* dst) {
  const std::size_t hp = padded_h(g), row_bytes = padded_w(g) * qconv_channels(g);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t y = 0; y < hp; ++y)
      if (y < g.pad_top || y >= g.pad_top + g.h)
        std::memset(dst + (s * hp + y) * row_bytes, zero_point, row_bytes);
  std::memset(dst + n * hp * row_bytes, 0, conv_slack(g));
}

void quantize_conv_input(const ConvGeometry& g, std::size_t n, const float* x, float scale,
                         std::int32_t zero_point, std::uint8_t* dst, Isa isa) {
  require_isa(isa, "qgemm");
  const simd::QGemmFns* native = native_for(isa);
  fill_conv_padding(g, n, zero_point, dst);
  const std::size_t sample = qconv_sample_bytes(g);
  parallel_for(0, n * g.h, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t row = lo; row < hi; ++row)
      conv_row(native, g, x + row * g.w * g.c, scale, zero_point, row % g.h,
               dst + row / g.h * sample);
  });
}

void pad_kernel_channels(const ConvGeometry& g, const float* kernel, std::size_t n, float* dst) {
  const std::size_t c = g.c, cp = qconv_channels(g);
  if (qconv_packs_taps(g)) {
    // Row (ky, j): tap (ky, j) of the one channel, zero for j >= kw.
    for (std::size_t ky = 0; ky < g.kh; ++ky)
      for (std::size_t j = 0; j < 4; ++j)
        for (std::size_t f = 0; f < n; ++f)
          dst[(ky * 4 + j) * n + f] = j < g.kw ? kernel[(ky * g.kw + j) * n + f] : 0.0f;
    return;
  }
  for (std::size_t t = 0; t < g.kh * g.kw; ++t)
    for (std::size_t ci = 0; ci < cp; ++ci)
      for (std::size_t j = 0; j < n; ++j)
        dst[(t * cp + ci) * n + j] = ci < c ? kernel[(t * c + ci) * n + j] : 0.0f;
}

void qconv_rows(const ConvGeometry& g, const std::uint8_t* sample, const PackedQB& b,
                const QEpilogue& epilogue, std::size_t oy0, std::size_t oy1) {
  if (!qconv_fits(g, b)) throw Error("qconv: this convolution does not fit the direct int8 path");
  if (oy0 >= std::min(oy1, g.out_h) || b.n() == 0) return;
  oy1 = std::min(oy1, g.out_h);
  const std::size_t wp = padded_w(g);
  const std::size_t cp = qconv_channels(g);
  native_for(b.isa())->conv(sample + oy0 * g.stride_h * wp * cp, wp, cp, g.kh, cell_kw(g),
                            g.stride_h, g.stride_w, g.out_w, oy1 - oy0, b.data(), b.n(),
                            b.column_sums().data(), epilogue);
}

void qconv_pool2_rows(const ConvGeometry& g, const std::uint8_t* sample, const PackedQB& b,
                      const QEpilogue& epilogue, std::size_t py0, std::size_t py1) {
  if (!qconv_fits(g, b)) throw Error("qconv: this convolution does not fit the direct int8 path");
  py1 = std::min(py1, g.out_h / 2);
  if (py0 >= py1 || g.out_w < 2 || b.n() == 0) return;
  const std::size_t wp = padded_w(g), cp = qconv_channels(g);
  native_for(b.isa())->conv_pool2(sample + 2 * py0 * g.stride_h * wp * cp, wp, cp, g.kh, cell_kw(g),
                                  g.stride_h, g.stride_w, g.out_w / 2, py1 - py0, b.data(), b.n(),
                                  b.column_sums().data(), epilogue);
}

std::size_t qconv_windows(const ConvGeometry& g, std::size_t rows) {
  return simd::qconv_windows_of(padded_w(g), g.out_w, rows, g.stride_h, g.stride_w);
}

void qconv(const ConvGeometry& g, std::size_t n, const std::uint8_t* in, const PackedQB& b,
           const QEpilogue& epilogue) {
  if (!qconv_fits(g, b)) throw Error("qconv: this convolution does not fit the direct int8 path");
  if (n == 0 || b.n() == 0) return;
  // Bands of output rows of a sample, so that a batch smaller than the threads still spreads.
  const auto threads = static_cast<std::size_t>(num_threads());
  const std::size_t parts = std::min(g.out_h, std::max<std::size_t>(1, (threads * 4 + n - 1) / n));
  parallel_for(0, n * parts, [&](std::size_t task) {
    const std::size_t s = task / parts, part = task % parts;
    const std::size_t oy0 = g.out_h * part / parts, oy1 = g.out_h * (part + 1) / parts;
    QEpilogue ep = epilogue;
    ep.y += (s * g.out_h + oy0) * g.out_w * ep.ldy;
    qconv_rows(g, in + s * qconv_sample_bytes(g), b, ep, oy0, oy1);
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
