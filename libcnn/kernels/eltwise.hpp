// Element-wise and row-reduction helpers of the layers, on contiguous float buffers. Each runs
// the variant of active_isa() (dispatch.hpp): simd/eltwise_impl.hpp, or the scalar reference
// under CNN_KERNELS=reference. Every output element is computed by the same operations in the
// same order in every variant that vectorises it, so variants differ only where a vector math
// function (exp, tanh) rounds differently from libm.
#pragma once

#include <cstddef>

#include "kernels/activation.hpp"

namespace cnn::kernels {

// y[rows, cols] <- act(y + bias) (bias: [cols], nullptr for none), in one pass.
void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols);

// acc[j] += sum over r of x[r, j], r in order (x: [rows, cols]).
void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc);

// dst[i] += src[i], i < n.
void add_to(const float* src, std::size_t n, float* dst);

namespace ref {
void act_forward(Act a, float* x, std::size_t rows, std::size_t cols);
void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                  std::size_t cols);
void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows, std::size_t cols);
void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc);
void add_to(const float* src, std::size_t n, float* dst);
}  // namespace ref

}  // namespace cnn::kernels
