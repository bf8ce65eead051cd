// Output size and padding of one window axis (TensorFlow's valid/same rules).
#include "kernels/window.hpp"

#include "tensor/error.hpp"

namespace cnn::kernels {

const std::vector<std::string>& padding_names() {
  static const std::vector<std::string> n = {"valid", "same"};
  return n;
}

Padding padding_from_name(const std::string& name) {
  const auto& n = padding_names();
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n[i] == name) return static_cast<Padding>(i);
  throw Error("unknown padding '" + name + "'; expected one of valid, same");
}

std::string padding_name(Padding p) { return padding_names().at(static_cast<std::size_t>(p)); }

std::optional<Window1D> window_1d(std::size_t in, std::size_t k, std::size_t stride,
                                  std::size_t dilation, Padding padding) {
  const std::size_t ek = (k - 1) * dilation + 1;
  Window1D w;
  if (padding == Padding::Valid) {
    if (in < ek) return std::nullopt;
    w.out = (in - ek) / stride + 1;
    return w;
  }
  w.out = (in + stride - 1) / stride;
  const std::size_t needed = (w.out - 1) * stride + ek;
  const std::size_t total = needed > in ? needed - in : 0;
  w.pad_before = total / 2;
  w.pad_after = total - w.pad_before;
  return w;
}

}  // namespace cnn::kernels
