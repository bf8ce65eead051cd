// Layer base class helpers and Keras initialisers.
#include "layers/layer.hpp"

#include <cmath>

#include "tensor/names.hpp"

namespace cnn {

std::size_t Layer::param_count() const {
  std::size_t n = 0;
  for (const auto& p : params_) n += p.size();
  return n;
}

Param& Layer::add_param(std::string name, Shape shape, Init init, bool trainable) {
  params_.push_back(Param{std::move(name), std::move(shape), init, trainable, nullptr, nullptr});
  return params_.back();
}

ShapeError Layer::shape_error(const std::string& problem) const {
  return ShapeError(name_, problem, type());
}

void Layer::forward_fused(Context& /*ctx*/, Inputs /*in*/, const Layer& next, Tensor& /*out*/) {
  throw Error("layer '" + name_ + "' (" + type() + ") does not run fused with layer '" +
              next.name() + "' (" + next.type() + ")");
}

namespace {
constexpr Named<Init> kInits[] = {
    {Init::Zeros, "zeros"},
    {Init::Ones, "ones"},
    {Init::GlorotUniform, "glorot_uniform"},
    {Init::GlorotNormal, "glorot_normal"},
    {Init::HeNormal, "he_normal"},
    {Init::HeUniform, "he_uniform"},
};
}  // namespace

const std::vector<std::string>& init_names() {
  static const std::vector<std::string> names = names_of(kInits);
  return names;
}

Init init_from_name(const std::string& name) {
  if (const auto i = value_named(kInits, name)) return *i;
  throw Error("unknown initializer '" + name + "'; " + choices_hint(name, init_names()));
}

std::string init_name(Init init) { return name_of(kInits, init); }

void init_fill(Init init, const Shape& shape, float* data, Rng& rng) {
  const std::size_t n = numel(shape);
  // Keras fan computation: the last two dims are (in, out); leading dims form the receptive field.
  double fan_in = 1, fan_out = 1;
  if (shape.size() == 1) {
    fan_in = fan_out = static_cast<double>(shape[0]);
  } else if (shape.size() >= 2) {
    double receptive = 1;
    for (std::size_t i = 0; i + 2 < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
    fan_in = static_cast<double>(shape[shape.size() - 2]) * receptive;
    fan_out = static_cast<double>(shape[shape.size() - 1]) * receptive;
  }
  // Keras draws "normal" initialisers from a normal truncated at 2 stddev; the stddev is
  // divided by 0.8796... (the stddev of a unit normal truncated at +-2) to keep the variance.
  auto truncated = [&](double stddev) {
    for (std::size_t i = 0; i < n; ++i) {
      double x;
      do {
        x = rng.normal();
      } while (std::fabs(x) > 2.0);
      data[i] = static_cast<float>(x * stddev / 0.87962566103423978);
    }
  };
  auto uniform = [&](double limit) {
    for (std::size_t i = 0; i < n; ++i)
      data[i] = static_cast<float>(-limit + 2.0 * limit * rng.uniform());
  };
  switch (init) {
    case Init::Zeros:
      std::fill(data, data + n, 0.0f);
      break;
    case Init::Ones:
      std::fill(data, data + n, 1.0f);
      break;
    case Init::GlorotUniform:
      uniform(std::sqrt(6.0 / (fan_in + fan_out)));
      break;
    case Init::GlorotNormal:
      truncated(std::sqrt(2.0 / (fan_in + fan_out)));
      break;
    case Init::HeNormal:
      truncated(std::sqrt(2.0 / fan_in));
      break;
    case Init::HeUniform:
      uniform(std::sqrt(6.0 / fan_in));
      break;
  }
}

}  // namespace cnn
