// Element-wise and row-reduction helpers of the layers, on contiguous float buffers. Each runs
// the variant of active_isa() (dispatch.hpp): simd/eltwise_impl.hpp, or the scalar reference
// under CNN_KERNELS=reference. Every output element is computed by the same operations in the
// same order in every variant that vectorises it, so variants differ only where a vector math
// function (exp, tanh) rounds differently from libm.
#pragma once

#include <cstddef>

#include "kernels/activation.hpp"
#include "kernels/im2col.hpp"

namespace cnn::kernels {

// y[rows, cols] <- act(y + bias) (bias: [cols], nullptr for none), in one pass. y's rows lie ldy
// floats apart (0: cols, packed; a slice of a wider row otherwise, as a Concatenate's part).
void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols,
                      std::size_t ldy = 0);

// acc[j] += sum over r of x[r, j], r in order (x: [rows, cols]).
void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc);

// dst[i] += src[i], i < n.
void add_to(const float* src, std::size_t n, float* dst);

// The largest k (kernel taps x input channels) that the small-k convolution kernels below take.
inline constexpr std::size_t kSmallK = 32;

// y[rows, f] = act(a[rows, k] * b[k, f] + bias) (bias: [f], nullptr for none) for a small k <=
// kSmallK, without packing: each output row starts from the bias and adds a[r, t] * b[t, :] for
// t = 0, 1, ..., k - 1, vector lanes along f. A thin first layer (a 3x3 kernel on 1 or 3 input
// channels: k = 9 or 27) is a GEMM whose packing would cost more than its product. y's rows lie
// ldy floats apart (0: f).
void small_k_forward(Act act, const float* a, const float* b, const float* bias, std::size_t rows,
                     std::size_t k, std::size_t f, float* y, std::size_t ldy = 0);

// y[rows, f] = a[rows, k] * b[k, f], each sum continued from y's value (from_y) or started from
// 0, then adding a[r, t] * b[t, :] for t = 0, 1, ..., k - 1 by multiply-adds: a SIMD gemm's
// operations in its order where it sums its k terms in one block (k <= kGemmOneBlock, gemm.hpp),
// so that a product cut along k into parts, each continuing the last, equals one gemm bitwise
// (with AVX2 and AVX-512, whatever the compiler: kernels/simd/fused.hpp; SSE2 has no fused
// multiply-add, and the columns past its last vector differ in rounding). a's rows lie lda floats
// apart, y's ldy. For any k (no packing).
void continue_product(const float* a, std::size_t lda, const float* b, std::size_t rows,
                      std::size_t k, std::size_t f, float* y, std::size_t ldy, bool from_y);

// small_k_forward of a convolution (g.col_cols() <= kSmallK; b: the kernel [kh, kw, c, f]) that
// reads its windows in the input instead of an im2col matrix: y's rows are the output pixels
// [p0, p0 + count) (p = oy * out_w + ox) of one sample x [h, w, c], each the same sums in the same
// order as small_k_forward on those rows of im2col(g, x), so the results are bitwise equal.
void small_k_conv(Act act, const ConvGeometry& g, const float* x, const float* b, const float* bias,
                  std::size_t p0, std::size_t count, std::size_t f, float* y, std::size_t ldy = 0);

// small_k_conv followed by a 2x2 / 2 max pooling, for a relu or linear act and windows that all
// lie inside the input (no padding, no dilation): pooled rows [py0, py1) of one sample x, out_w / 2
// pixels each (an odd last column or row dropped), y's pixels ldy floats apart (0: f). Each
// pooled value is bitwise small_k_conv's outputs pooled by max_pool_forward (the same sums, the
// same activation, the same chain of maxima), without the convolution's rows in memory.
bool small_k_pool2_fits(Act act, const ConvGeometry& g);
void small_k_conv_pool2(Act act, const ConvGeometry& g, const float* x, const float* b,
                        const float* bias, std::size_t py0, std::size_t py1, std::size_t f,
                        float* y, std::size_t ldy = 0);

// The weight and bias gradients of that product, for k <= kSmallK: db[k, f] += a^T * dz and
// dbias[f] += the column sums of dz (dbias nullptr: not wanted), every sum over the rows in
// order. dz = dL/d(pre-activation): with y given, computed on the fly from the output y and its
// gradient dy (act must then be relu or linear); with y nullptr, dy already is dz.
void small_k_weight_grad(Act act, const float* a, const float* y, const float* dy, std::size_t rows,
                         std::size_t k, std::size_t f, float* db, float* dbias);

// small_k_weight_grad of a convolution reading its windows in the input: a is the rows [p0, p0 +
// count) of im2col(g, x) for one sample x, y and dy (when y is given) or dz those rows of the
// output; the same sums in the same order, so the results are bitwise equal.
void small_k_conv_weight_grad(Act act, const ConvGeometry& g, const float* x, const float* y,
                              const float* dy, std::size_t p0, std::size_t count, std::size_t f,
                              float* db, float* dbias);

namespace ref {
// As above, with ldy given (not 0).
void small_k_forward(Act act, const float* a, const float* b, const float* bias, std::size_t rows,
                     std::size_t k, std::size_t f, float* y, std::size_t ldy);
void small_k_conv(Act act, const ConvGeometry& g, const float* x, const float* b, const float* bias,
                  std::size_t p0, std::size_t count, std::size_t f, float* y, std::size_t ldy);
void small_k_conv_pool2(Act act, const ConvGeometry& g, const float* x, const float* b,
                        const float* bias, std::size_t py0, std::size_t py1, std::size_t f,
                        float* y, std::size_t ldy);
void small_k_weight_grad(Act act, const float* a, const float* y, const float* dy, std::size_t rows,
                         std::size_t k, std::size_t f, float* db, float* dbias);
void small_k_conv_weight_grad(Act act, const ConvGeometry& g, const float* x, const float* y,
                              const float* dy, std::size_t p0, std::size_t count, std::size_t f,
                              float* db, float* dbias);
void continue_product(const float* a, std::size_t lda, const float* b, std::size_t rows,
                      std::size_t k, std::size_t f, float* y, std::size_t ldy, bool from_y);
void act_forward(Act a, float* x, std::size_t rows, std::size_t cols);
void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                  std::size_t cols);
void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols,
                      std::size_t ldy);
void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc);
void add_to(const float* src, std::size_t n, float* dst);
}  // namespace ref

}  // namespace cnn::kernels
