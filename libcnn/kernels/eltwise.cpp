// The element-wise entry points and their scalar reference; the choice of ISA table.
#include "kernels/eltwise.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/im2col.hpp"
#include "kernels/pooling.hpp"
#include "kernels/simd/eltwise_simd.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {

void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols,
                      std::size_t ldy) {
  simd::eltwise_active().bias_act_forward(a, y, bias, rows, cols, ldy ? ldy : cols);
}

void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc) {
  simd::eltwise_active().sum_rows_add(x, rows, cols, acc);
}

void add_to(const float* src, std::size_t n, float* dst) {
  simd::eltwise_active().add_to(src, n, dst);
}

void small_k_forward(Act act, const float* a, const float* b, const float* bias, std::size_t rows,
                     std::size_t k, std::size_t f, float* y, std::size_t ldy) {
  simd::eltwise_active().small_k_forward(act, a, b, bias, rows, k, f, y, ldy ? ldy : f);
}

void continue_product(const float* a, std::size_t lda, const float* b, std::size_t rows,
                      std::size_t k, std::size_t f, float* y, std::size_t ldy, bool from_y) {
  simd::eltwise_active().continue_product(a, lda, b, rows, k, f, y, ldy, from_y);
}

namespace ref {
void continue_product(const float* a, std::size_t lda, const float* b, std::size_t rows,
                      std::size_t k, std::size_t f, float* y, std::size_t ldy, bool from_y) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < f; ++j) {
      float s = from_y ? y[r * ldy + j] : 0.0f;
      for (std::size_t t = 0; t < k; ++t) s = std::fma(a[r * lda + t], b[t * f + j], s);
      y[r * ldy + j] = s;
    }
}
}  // namespace ref

namespace {
// small_k_conv's and small_k_conv_weight_grad's checks of the geometry and the pixel range.
void check_small_k_conv(const char* who, const ConvGeometry& g, std::size_t p0, std::size_t count) {
  if (g.col_cols() > kSmallK)
    throw Error(std::string(who) + ": " + std::to_string(g.col_cols()) + " taps, over kSmallK (" +
                std::to_string(kSmallK) + ")");
  if (p0 + count > g.col_rows())
    throw Error(std::string(who) + ": output pixels past the " + std::to_string(g.col_rows()) +
                " of the geometry");
}
}  // namespace

void small_k_conv(Act act, const ConvGeometry& g, const float* x, const float* b, const float* bias,
                  std::size_t p0, std::size_t count, std::size_t f, float* y, std::size_t ldy) {
  check_small_k_conv("small_k_conv", g, p0, count);
  simd::eltwise_active().small_k_conv(act, g, x, b, bias, p0, count, f, y, ldy ? ldy : f);
}

bool small_k_pool2_fits(Act act, const ConvGeometry& g) {
  return (act == Act::Relu || act == Act::Linear) && g.col_cols() <= kSmallK && g.pad_top == 0 &&
         g.pad_left == 0 && g.dil_h == 1 && g.dil_w == 1 &&
         (g.out_h - 1) * g.stride_h + g.kh <= g.h && (g.out_w - 1) * g.stride_w + g.kw <= g.w;
}

void small_k_conv_pool2(Act act, const ConvGeometry& g, const float* x, const float* b,
                        const float* bias, std::size_t py0, std::size_t py1, std::size_t f,
                        float* y, std::size_t ldy) {
  if (!small_k_pool2_fits(act, g))
    throw Error(
        "small_k_conv_pool2: a padded, dilated or too wide convolution, or an activation "
        "other than relu or linear");
  if (py1 > g.out_h / 2) throw Error("small_k_conv_pool2: pooled rows past the geometry's");
  if (py0 >= py1) return;
  simd::eltwise_active().small_k_conv_pool2(act, g, x, b, bias, py0, py1, f, y, ldy ? ldy : f);
}

void small_k_weight_grad(Act act, const float* a, const float* y, const float* dy, std::size_t rows,
                         std::size_t k, std::size_t f, float* db, float* dbias) {
  simd::eltwise_active().small_k_weight_grad(act, a, y, dy, rows, k, f, db, dbias);
}

void small_k_conv_weight_grad(Act act, const ConvGeometry& g, const float* x, const float* y,
                              const float* dy, std::size_t p0, std::size_t count, std::size_t f,
                              float* db, float* dbias) {
  check_small_k_conv("small_k_conv_weight_grad", g, p0, count);
  if (y && act != Act::Relu && act != Act::Linear)
    throw Error(
        "small_k_conv_weight_grad: the activation's gradient is only computed on the fly for "
        "relu and linear; pass dz instead");
  simd::eltwise_active().small_k_conv_weight_grad(act, g, x, y, dy, p0, count, f, db, dbias);
}

namespace ref {

void small_k_forward(Act act, const float* a, const float* b, const float* bias, std::size_t rows,
                     std::size_t k, std::size_t f, float* y, std::size_t ldy) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < f; ++j) {
      float s = bias ? bias[j] : 0.0f;
      for (std::size_t t = 0; t < k; ++t) s += a[r * k + t] * b[t * f + j];
      y[r * ldy + j] = s;
    }
    ref::act_forward(act, y + r * ldy, 1, f);
  }
}

namespace {
// The im2col rows of output pixels [p0, p0 + count).
std::vector<float> window_rows(const ConvGeometry& g, const float* x, std::size_t p0,
                               std::size_t count) {
  const std::size_t k = g.col_cols();
  std::vector<float> col(count * k);
  for (std::size_t r = 0; r < count; ++r)
    im2col_window(g, x, (p0 + r) / g.out_w, (p0 + r) % g.out_w, col.data() + r * k);
  return col;
}
}  // namespace

void small_k_conv(Act act, const ConvGeometry& g, const float* x, const float* b, const float* bias,
                  std::size_t p0, std::size_t count, std::size_t f, float* y, std::size_t ldy) {
  ref::small_k_forward(act, window_rows(g, x, p0, count).data(), b, bias, count, g.col_cols(), f, y,
                       ldy);
}

void small_k_conv_weight_grad(Act act, const ConvGeometry& g, const float* x, const float* y,
                              const float* dy, std::size_t p0, std::size_t count, std::size_t f,
                              float* db, float* dbias) {
  ref::small_k_weight_grad(act, window_rows(g, x, p0, count).data(), y, dy, count, g.col_cols(), f,
                           db, dbias);
}

void small_k_conv_pool2(Act act, const ConvGeometry& g, const float* x, const float* b,
                        const float* bias, std::size_t py0, std::size_t py1, std::size_t f,
                        float* y, std::size_t ldy) {
  // The convolution's two rows of each pooled row, pooled by the scalar max_pool_forward.
  PoolGeometry pg;
  pg.h = 2;
  pg.w = g.out_w;
  pg.c = f;
  pg.ph = pg.pw = pg.stride_h = pg.stride_w = 2;
  pg.out_h = 1;
  pg.out_w = g.out_w / 2;
  std::vector<float> rows(2 * g.out_w * f), pooled(pg.out_w * f);
  for (std::size_t py = py0; py < py1; ++py) {
    ref::small_k_conv(act, g, x, b, bias, 2 * py * g.out_w, 2 * g.out_w, f, rows.data(), f);
    ref::max_pool_forward(pg, rows.data(), pooled.data(), nullptr);
    for (std::size_t px = 0; px < pg.out_w; ++px)
      std::copy_n(pooled.data() + px * f, f, y + ((py - py0) * pg.out_w + px) * ldy);
  }
}

namespace {
// dz[r, j] of small_k_weight_grad.
float small_k_dz(Act act, const float* y, const float* dy, std::size_t i) {
  if (!y || act == Act::Linear) return dy[i];
  return y[i] > 0.0f ? dy[i] : 0.0f;
}
void require_fusable(Act act, const float* y) {
  if (y && act != Act::Relu && act != Act::Linear)
    throw Error(
        "small_k_weight_grad: the activation's gradient is only computed on the fly for "
        "relu and linear; pass dz instead");
}
}  // namespace

void small_k_weight_grad(Act act, const float* a, const float* y, const float* dy, std::size_t rows,
                         std::size_t k, std::size_t f, float* db, float* dbias) {
  require_fusable(act, y);
  for (std::size_t t = 0; t < k; ++t)
    for (std::size_t j = 0; j < f; ++j) {
      float s = db[t * f + j];
      for (std::size_t r = 0; r < rows; ++r) s += a[r * k + t] * small_k_dz(act, y, dy, r * f + j);
      db[t * f + j] = s;
    }
  if (dbias)
    for (std::size_t j = 0; j < f; ++j) {
      float s = dbias[j];
      for (std::size_t r = 0; r < rows; ++r) s += small_k_dz(act, y, dy, r * f + j);
      dbias[j] = s;
    }
}

void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols,
                      std::size_t ldy) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    if (bias)
      for (std::size_t j = 0; j < cols; ++j) row[j] += bias[j];
    ref::act_forward(a, row, 1, cols);
  }
}

void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc) {
  for (std::size_t j = 0; j < cols; ++j) {
    float s = acc[j];
    for (std::size_t r = 0; r < rows; ++r) s += x[r * cols + j];
    acc[j] = s;
  }
}

void add_to(const float* src, std::size_t n, float* dst) {
  for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace ref

namespace simd {

const EltwiseFns& eltwise_for(Isa isa) {
  static const EltwiseFns reference{ref::act_forward,
                                    ref::act_backward,
                                    ref::bias_act_forward,
                                    ref::sum_rows_add,
                                    ref::add_to,
                                    ref::max_pool_forward,
                                    ref::max_pool_backward_add,
                                    ref::max_pool_backward_set,
                                    ref::im2col,
                                    ref::col2im_add,
                                    ref::small_k_forward,
                                    ref::small_k_conv,
                                    ref::small_k_conv_pool2,
                                    ref::small_k_weight_grad,
                                    ref::small_k_conv_weight_grad,
                                    ref::continue_product};
  if (isa == Isa::Reference) return reference;
  require_isa(isa, "eltwise");
  switch (isa) {
    case Isa::Sse2:
      return eltwise_sse2();
    case Isa::Avx2:
      return eltwise_avx2();
    case Isa::Avx512:
      return eltwise_avx512();
    default:
      return reference;
  }
}

const EltwiseFns& eltwise_active() {
  static const EltwiseFns& t = eltwise_for(active_isa());
  return t;
}

}  // namespace simd
}  // namespace cnn::kernels
