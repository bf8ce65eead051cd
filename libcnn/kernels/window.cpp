// Output size and padding of one window axis (TensorFlow's valid/same rules).
#include "kernels/window.hpp"

#include "tensor/error.hpp"
#include "tensor/names.hpp"

namespace cnn::kernels {

namespace {
constexpr Named<Padding> kPaddings[] = {{Padding::Valid, "valid"}, {Padding::Same, "same"}};
}  // namespace

const std::vector<std::string>& padding_names() {
  static const std::vector<std::string> n = names_of(kPaddings);
  return n;
}

Padding padding_from_name(const std::string& name) {
  if (const auto p = value_named(kPaddings, name)) return *p;
  throw Error("unknown padding '" + name + "'; expected one of valid, same");
}

std::string padding_name(Padding p) { return name_of(kPaddings, p); }

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
