// Quantized matrix products for int8 inference: C[m, n] = sum over p of A(i, p) B(p, j), exact in
// 32-bit integers, with A unsigned 8-bit (activations: x = a_scale * (A - zero_point)) and B
// signed 8-bit (weights: w = w_scale[j] * B, symmetric per output column), and the epilogue that
// turns the sums back into floats: y(i, j) = act(scale[j] * (C(i, j) - zero_point * colsum[j]) +
// bias[j]) with scale[j] = a_scale * w_scale[j] and colsum[j] = sum over p of B(p, j).
//
// On CPUs with AVX512_VNNI the products run on vpdpbusd (four u8 x s8 products added into each
// 32-bit lane: 64 multiply-adds per instruction where a float FMA does 16); elsewhere a plain
// integer loop computes the same sums (integers are exact, so every path gives the same C, and
// the epilogue's float operations are the same ones in the same order: bitwise the same y).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "kernels/dispatch.hpp"
#include "kernels/im2col.hpp"
#include "tensor/aligned.hpp"

namespace cnn::kernels {

// Whether isa's int8 product runs on the CPU's VNNI instructions (else the portable loop).
bool native_int8(Isa isa);

// B [k, n] int8 packed for the products of one ISA, with its column sums.
class PackedQB {
 public:
  explicit PackedQB(Isa isa = active_isa());  // throws cnn::Error when the CPU lacks isa
  // Packs B (row-major, rows ldb apart); the old contents are dropped.
  void pack(std::size_t k, std::size_t n, const std::int8_t* b, std::size_t ldb);
  std::size_t k() const { return k_; }
  std::size_t n() const { return n_; }
  Isa isa() const { return isa_; }
  // sum over p of B(p, j), for the zero point's correction.
  const std::vector<std::int32_t>& column_sums() const { return colsum_; }
  const std::uint8_t* data() const { return data_.data(); }

 private:
  Isa isa_;
  bool native_ = false;
  std::size_t k_ = 0, n_ = 0;
  AlignedVector<std::uint8_t> data_;
  std::vector<std::int32_t> colsum_;
};

// The float output of a quantized product (see the top): scale [n]; bias [n] or null; y rows
// ldy apart.
struct QEpilogue {
  const float* scale = nullptr;
  const float* bias = nullptr;
  std::int32_t zero_point = 0;
  bool relu = false;
  float* y = nullptr;
  std::size_t ldy = 0;
};

// y = the epilogue of A [m, k] (rows lda apart) times b. The float of each sum is
// std::fma(scale[j], float(C - zero_point * colsum[j]), bias[j]) (bias 0 when null), then relu.
// Threads over blocks of rows; bitwise the same for any thread count and on every ISA.
void qgemm(std::size_t m, const std::uint8_t* a, std::size_t lda, const PackedQB& b,
           const QEpilogue& epilogue);

// dst [rows, cols] (rows cols apart) = clamp(nearbyint(x * r) + zero_point, 0, 255) of x
// [rows, cols] (rows ldx apart), with r = 1 / scale rounded to float once (a product, not a
// division, per value: division is 5-10x slower): activations to unsigned bytes (NaN to 0).
// Threads over rows; bitwise the same on every ISA (IEEE products, rounding to nearest even).
void quantize_u8(const float* x, std::size_t rows, std::size_t cols, std::size_t ldx, float scale,
                 std::int32_t zero_point, std::uint8_t* dst, Isa isa = active_isa());

// im2col (im2col.hpp) of one quantized NHWC sample [h, w, c]: col [out_h * out_w, kh * kw * c]
// bytes, padding taps set to pad (the zero point: the code of 0).
void im2col_u8(const ConvGeometry& g, const std::uint8_t* in, std::uint8_t pad, std::uint8_t* col);

// An int8 convolution that reads its windows where they lie in the quantized input (an "implicit
// GEMM": no im2col matrix), for any stride, no dilation, kh * kw > 1 and kh * kw * channels
// within one k block of the VNNI kernel (qconv_fits). The input is quantized once into a padded
// layout, [hp, wp, cp] per sample with hp = (out_h - 1) * stride_h + kh, wp = (out_w - 1) *
// stride_w + kw (the cells the windows cover) and cp = qconv_channels (c rounded up to a
// multiple of 4), the padding filled with the zero point, then bytes to spare after the last
// sample. A window is then kh runs of kw * cp bytes, wp * cp apart, and a tile's 14 windows are
// stride_w * cp bytes apart: 14 windows of an output row, or, with stride 1, 14 consecutive
// pixels of the padded sample, rows taken over its whole width (the kw - 1 windows of each row
// that cross its end are computed and thrown away). The kernel is B [qconv_k(g), n]
// (pad_kernel_channels: zero rows for the added channels). The same sums as im2col_u8 and
// qgemm, the same epilogue: bitwise the same y.
//
// One channel and kw = 2 to 4 (a grayscale first layer) would leave 3 of every 4 bytes the zero
// point, and 4 times the products. Such an input is held with each row's taps packed instead: the
// cell at padded pixel x of a row holds the row's padded bytes x, x + 1, x + 2 and x + 3, so that
// a window is kh cells, one per row (kw 1 and cp 4 for the product; wp counts cells: (out_w - 1)
// * stride_w + 1), and the kernel has 4 rows per ky, zero for kx >= kw. MNIST's 3x3 first layer
// takes 3 quads a window where widened channels took 9.
bool qconv_packs_taps(const ConvGeometry& g);
std::size_t qconv_channels(const ConvGeometry& g);
// The kernel rows of the direct convolution: kh * kw * qconv_channels, or kh * 4 with packed taps.
std::size_t qconv_k(const ConvGeometry& g);
bool qconv_geometry_fits(const ConvGeometry& g);  // whatever the CPU
bool qconv_fits(const ConvGeometry& g, Isa isa = active_isa());
bool qconv_fits(const ConvGeometry& g, const PackedQB& b);  // and b is its kernel's shape
// kernel [kh * kw * c, n] -> dst [qconv_k(g), n], zero rows for the added channels (or taps).
void pad_kernel_channels(const ConvGeometry& g, const float* kernel, std::size_t n, float* dst);
// Bytes of the padded input of n samples (samples qconv_sample_bytes apart), and that input
// (quantize_u8's values).
std::size_t qconv_input_bytes(const ConvGeometry& g, std::size_t n);
std::size_t qconv_sample_bytes(const ConvGeometry& g);
void quantize_conv_input(const ConvGeometry& g, std::size_t n, const float* x, float scale,
                         std::int32_t zero_point, std::uint8_t* dst, Isa isa = active_isa());
// Its two parts, for a layer that writes the input row by row (a pooling fused before it):
// the padding rows of n samples and the bytes after them; then input row y (w * c floats, x) of
// one sample into its padded rows and columns (the padding columns and added channels too).
void fill_conv_padding(const ConvGeometry& g, std::size_t n, std::int32_t zero_point,
                       std::uint8_t* dst);
void quantize_conv_row(const ConvGeometry& g, const float* x, float scale, std::int32_t zero_point,
                       std::size_t y, std::uint8_t* sample, Isa isa = active_isa());
// The convolution of n samples: epilogue.y [n * out_h * out_w, b.n()] rows epilogue.ldy apart.
// Threads over parts of samples; bitwise the same for any thread count.
void qconv(const ConvGeometry& g, std::size_t n, const std::uint8_t* in, const PackedQB& b,
           const QEpilogue& epilogue);
// Output rows [oy0, oy1) of one padded sample, on the calling thread: epilogue.y [(oy1 - oy0) *
// out_w, b.n()] (a band of rows, for a pooling fused after it).
void qconv_rows(const ConvGeometry& g, const std::uint8_t* sample, const PackedQB& b,
                const QEpilogue& epilogue, std::size_t oy0, std::size_t oy1);
// qconv_rows followed by a 2x2 / 2 max pooling without padding (out_h / 2 x out_w / 2 pooled
// pixels, an odd last row or column dropped): pooled rows [py0, py1) of one padded sample to
// epilogue.y [(py1 - py0) * (out_w / 2), b.n()] rows epilogue.ldy apart, on the calling thread.
// Each pooled pixel's four sums are maxed in int32 and the epilogue runs once on the largest:
// bitwise the max of qconv_rows' floats (the epilogue keeps the order of the sums), with a
// quarter of the epilogues and no convolution rows in memory.
void qconv_pool2_rows(const ConvGeometry& g, const std::uint8_t* sample, const PackedQB& b,
                      const QEpilogue& epilogue, std::size_t py0, std::size_t py1);
// The windows qconv_rows computes for a band of `rows` output rows, the ones it throws away
// included: tiles of 14 windows, across the rows' ends (at stride 1, where the kw - 1 windows
// that cross each row's end are computed too) or along each row, whichever computes fewer.
std::size_t qconv_windows(const ConvGeometry& g, std::size_t rows);

// The sums themselves: c [m, n] (rows ldc apart) = A b in int32.
void qgemm(std::size_t m, const std::uint8_t* a, std::size_t lda, const PackedQB& b,
           std::int32_t* c, std::size_t ldc);

}  // namespace cnn::kernels
