// The per-ISA element-wise kernels (simd/eltwise_<isa>.cpp), reached through kernels/eltwise.hpp,
// kernels/activation.hpp, kernels/pooling.hpp and kernels/im2col.hpp. Internal; tests use
// eltwise_for() to run every ISA against the reference.
#pragma once

#include <cstddef>

#include "kernels/activation.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/im2col.hpp"
#include "kernels/pooling.hpp"

namespace cnn::kernels::simd {

struct EltwiseFns {
  void (*act_forward)(Act, float*, std::size_t, std::size_t);
  void (*act_backward)(Act, const float*, const float*, float*, std::size_t, std::size_t);
  void (*bias_act_forward)(Act, float*, const float*, std::size_t, std::size_t, std::size_t);
  void (*sum_rows_add)(const float*, std::size_t, std::size_t, float*);
  void (*add_to)(const float*, std::size_t, float*);
  void (*max_pool_forward)(const PoolGeometry&, const float*, float*, std::uint32_t*);
  void (*max_pool_backward_add)(const PoolGeometry&, const float*, const std::uint32_t*, float*);
  void (*max_pool_backward_set)(const PoolGeometry&, const float*, const std::uint32_t*, float*);
  void (*im2col)(const ConvGeometry&, const float*, float*);
  void (*col2im_add)(const ConvGeometry&, const float*, float*);
  void (*small_k_forward)(Act, const float*, const float*, const float*, std::size_t, std::size_t,
                          std::size_t, float*, std::size_t);
  void (*small_k_conv)(Act, const ConvGeometry&, const float*, const float*, const float*,
                       std::size_t, std::size_t, std::size_t, float*, std::size_t);
  void (*small_k_conv_pool2)(Act, const ConvGeometry&, const float*, const float*, const float*,
                             std::size_t, std::size_t, std::size_t, float*, std::size_t);
  void (*small_k_weight_grad)(Act, const float*, const float*, const float*, std::size_t,
                              std::size_t, std::size_t, float*, float*);
  void (*small_k_conv_weight_grad)(Act, const ConvGeometry&, const float*, const float*,
                                   const float*, std::size_t, std::size_t, std::size_t, float*,
                                   float*);
  void (*continue_product)(const float*, std::size_t, const float*, std::size_t, std::size_t,
                           std::size_t, float*, std::size_t, bool);
};

const EltwiseFns& eltwise_sse2();
const EltwiseFns& eltwise_avx2();
const EltwiseFns& eltwise_avx512();

// The table of one ISA (Reference: the scalar kernels). Throws cnn::Error when the CPU lacks it.
const EltwiseFns& eltwise_for(Isa isa);
// The table of active_isa(), chosen once.
const EltwiseFns& eltwise_active();

}  // namespace cnn::kernels::simd
