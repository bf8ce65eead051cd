// Sliding-window geometry shared by convolution and pooling along one spatial axis: output size
// and TensorFlow's "valid"/"same" padding (Keras semantics).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace cnn::kernels {

enum class Padding { Valid, Same };

// Keras names: valid, same.
const std::vector<std::string>& padding_names();
Padding padding_from_name(const std::string& name);  // throws cnn::Error when unknown
std::string padding_name(Padding p);

// One axis of a window sweep: `out` positions; position o reads input indices
// o * stride - pad_before + t * dilation for t in [0, k); indices outside [0, in) are padding.
struct Window1D {
  std::size_t out = 0;
  std::size_t pad_before = 0;
  std::size_t pad_after = 0;
};

// in, k, stride, dilation >= 1. The dilated extent is ek = (k - 1) * dilation + 1.
//   valid: out = (in - ek) / stride + 1 (floor), no padding; nullopt when in < ek (no output).
//   same:  out = ceil(in / stride), pad_total = max((out - 1) * stride + ek - in, 0),
//          pad_before = pad_total / 2 and the extra cell after (TensorFlow's asymmetric rule,
//          unlike frameworks that pad symmetrically).
std::optional<Window1D> window_1d(std::size_t in, std::size_t k, std::size_t stride,
                                  std::size_t dilation, Padding padding);

}  // namespace cnn::kernels
