// Element-wise activation functions and their derivatives, on contiguous [rows, cols] buffers
// (softmax normalises each row, i.e. the channel axis of NHWC data).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cnn::kernels {

enum class Act { Linear, Relu, Sigmoid, Softmax, Tanh, Elu, LeakyRelu };

// Keras names (linear, relu, sigmoid, softmax, tanh, elu, leaky_relu), from a table keyed by name.
const std::vector<std::string>& act_names();
// Throws cnn::Error listing the names when unknown.
Act act_from_name(const std::string& name);
std::string act_name(Act a);

// Slope of leaky_relu for x < 0 (tf.nn.leaky_relu's default, which Keras's "leaky_relu" uses).
inline constexpr float kLeakyReluAlpha = 0.2f;

// x[rows * cols] <- act(x), in place.
void act_forward(Act a, float* x, std::size_t rows, std::size_t cols);

// dz[i] = dL/dz given y = act(z) and dy = dL/dy, all [rows * cols]. Every activation's
// derivative is written in terms of its output, so forward needs to keep nothing but y.
// Overwrites dz (dz may alias dy).
void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                  std::size_t cols);

}  // namespace cnn::kernels
