// Scalar activation kernels: the reference (ref::) the SIMD variants in simd/eltwise_impl.hpp are
// tested against, and the dispatching entry points.
#include "kernels/activation.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/eltwise.hpp"
#include "kernels/simd/eltwise_simd.hpp"
#include "tensor/error.hpp"
#include "tensor/names.hpp"

namespace cnn::kernels {

namespace {
constexpr Named<Act> kActs[] = {
    {Act::Linear, "linear"},        {Act::Relu, "relu"}, {Act::Sigmoid, "sigmoid"},
    {Act::Softmax, "softmax"},      {Act::Tanh, "tanh"}, {Act::Elu, "elu"},
    {Act::LeakyRelu, "leaky_relu"},
};
}  // namespace

const std::vector<std::string>& act_names() {
  static const std::vector<std::string> n = names_of(kActs);
  return n;
}

Act act_from_name(const std::string& name) {
  if (const auto a = value_named(kActs, name)) return *a;
  std::string list;
  for (const auto& s : act_names()) list += (list.empty() ? "" : ", ") + s;
  throw Error("unknown activation '" + name + "'; expected one of " + list);
}

std::string act_name(Act a) { return name_of(kActs, a); }

void act_forward(Act a, float* x, std::size_t rows, std::size_t cols) {
  simd::eltwise_active().act_forward(a, x, rows, cols);
}

void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                  std::size_t cols) {
  simd::eltwise_active().act_backward(a, y, dy, dz, rows, cols);
}

namespace ref {

void act_forward(Act a, float* x, std::size_t rows, std::size_t cols) {
  const std::size_t n = rows * cols;
  switch (a) {
    case Act::Linear:
      return;
    case Act::Relu:
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Act::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) {
        // Branches keep exp() from overflowing for large |x|.
        const float v = x[i];
        if (v >= 0) {
          x[i] = 1.0f / (1.0f + std::exp(-v));
        } else {
          const float e = std::exp(v);
          x[i] = e / (1.0f + e);
        }
      }
      return;
    case Act::Tanh:
      for (std::size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      return;
    case Act::Elu:
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : std::expm1(x[i]);
      return;
    case Act::LeakyRelu:
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : kLeakyReluAlpha * x[i];
      return;
    case Act::Softmax:
      for (std::size_t r = 0; r < rows; ++r) {
        float* row = x + r * cols;
        // Subtracting the row max keeps exp() in range without changing the result.
        const float m = *std::max_element(row, row + cols);
        double sum = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          row[j] = std::exp(row[j] - m);
          sum += row[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
      }
      return;
  }
}

void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                  std::size_t cols) {
  const std::size_t n = rows * cols;
  switch (a) {
    case Act::Linear:
      if (dz != dy) std::copy(dy, dy + n, dz);
      return;
    case Act::Relu:
      for (std::size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      return;
    case Act::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
      return;
    case Act::Tanh:
      for (std::size_t i = 0; i < n; ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
      return;
    case Act::Elu:
      // For z <= 0, y = exp(z) - 1 so dy/dz = exp(z) = y + 1.
      for (std::size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + 1.0f);
      return;
    case Act::LeakyRelu:
      for (std::size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : kLeakyReluAlpha * dy[i];
      return;
    case Act::Softmax:
      // dz_i = y_i * (dy_i - sum_j dy_j y_j), the softmax Jacobian applied to dy.
      for (std::size_t r = 0; r < rows; ++r) {
        const float* yr = y + r * cols;
        const float* gr = dy + r * cols;
        float* zr = dz + r * cols;
        double dot = 0.0;
        for (std::size_t j = 0; j < cols; ++j) dot += static_cast<double>(gr[j]) * yr[j];
        for (std::size_t j = 0; j < cols; ++j) zr[j] = yr[j] * (gr[j] - static_cast<float>(dot));
      }
      return;
  }
}

}  // namespace ref

}  // namespace cnn::kernels
