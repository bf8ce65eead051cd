// The int8 product's ISA entry points (simd/qgemm_avx512vnni.cpp), called by kernels/qgemm.cpp.
// Internal.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/qgemm.hpp"

namespace cnn::kernels::simd {

// The largest k of qgemm_avx512vnni's one block (its KC): the largest kernel of a convolution
// that conv takes.
constexpr std::size_t kQConvMaxK = 1536;
// The windows of one tile of conv (qgemm_avx512vnni's MR).
constexpr std::size_t kQConvTile = 14;

// The windows conv computes for `rows` output rows of out_w pixels, those it throws away
// included: at stride 1 its tiles may run across the rows' ends over the padded width wp (the
// kw - 1 windows that cross each end computed too), else they run along each row. At stride 1
// it takes the way with fewer (qconv_across_rows).
inline std::size_t qconv_tiles_of(std::size_t windows) {
  return (windows + kQConvTile - 1) / kQConvTile * kQConvTile;
}
inline bool qconv_across_rows(std::size_t wp, std::size_t out_w, std::size_t rows, std::size_t sh,
                              std::size_t sw) {
  return sh == 1 && sw == 1 && rows > 0 &&
         qconv_tiles_of((rows - 1) * wp + out_w) <= rows * qconv_tiles_of(out_w);
}
inline std::size_t qconv_windows_of(std::size_t wp, std::size_t out_w, std::size_t rows,
                                    std::size_t sh, std::size_t sw) {
  return qconv_across_rows(wp, out_w, rows, sh, sw) ? qconv_tiles_of((rows - 1) * wp + out_w)
                                                    : rows * qconv_tiles_of(out_w);
}

struct QGemmFns {
  // Bytes of a packed B [k, n], and the packing.
  std::size_t (*packed_bytes)(std::size_t k, std::size_t n);
  void (*pack)(std::size_t k, std::size_t n, const std::int8_t* b, std::size_t ldb,
               std::uint8_t* dst);
  // Rows [m0, m1) of the product of A (rows lda apart) and the packed B [k, n]: the epilogue's
  // floats when ep is given, else c's int32 sums. c also holds the running sums between k
  // blocks when k spans more than one (it must then be given, with ep or without).
  void (*run)(std::size_t m0, std::size_t m1, const std::uint8_t* a, std::size_t lda,
              const std::uint8_t* bp, std::size_t k, std::size_t n, const std::int32_t* colsum,
              std::int32_t* c, std::size_t ldc, const QEpilogue* ep);
  // The largest k that one block holds (above it, run needs c).
  std::size_t k_block;
  // count floats of x to bytes (kernels::quantize_u8's formula; reciprocal = 1 / scale).
  void (*quantize)(const float* x, std::size_t count, float reciprocal, std::int32_t zero_point,
                   std::uint8_t* dst);
  // A convolution of one sample held padded (qconv's layout: rows of wp pixels of c bytes, c a
  // multiple of 4, kh * kw * c <= k_block, readable bytes after it), B packed [kh * kw * c, n]:
  // output rows [0, rows) of out_w pixels, row oy's windows starting at pixel oy * sh * wp + ox *
  // sw of in, written through the epilogue to y row oy * out_w + ox. Tiles as qconv_windows_of
  // says.
  void (*conv)(const std::uint8_t* in, std::size_t wp, std::size_t c, std::size_t kh,
               std::size_t kw, std::size_t sh, std::size_t sw, std::size_t out_w, std::size_t rows,
               const std::uint8_t* bp, std::size_t n, const std::int32_t* colsum,
               const QEpilogue& ep);
  // conv with a 2x2 / 2 max pooling after it: pooled rows [0, prows) of pw pixels, pooled pixel
  // (py, px) the largest of the sums of windows (2py + dy, 2px + dx), dy and dx 0 or 1, taken in
  // int32 before the epilogue, written to y row py * pw + px. The epilogue does not decrease as
  // the sum grows (its scale is >= 0, and relu and every rounding keep the order), so this is
  // bitwise the epilogue's floats max-pooled. Reads up to 4 windows past a row's last pooled
  // pixel.
  void (*conv_pool2)(const std::uint8_t* in, std::size_t wp, std::size_t c, std::size_t kh,
                     std::size_t kw, std::size_t sh, std::size_t sw, std::size_t pw,
                     std::size_t prows, const std::uint8_t* bp, std::size_t n,
                     const std::int32_t* colsum, const QEpilogue& ep);
};

// Null when the CPU lacks AVX512_VNNI.
const QGemmFns* qgemm_avx512_vnni();

}  // namespace cnn::kernels::simd
