// Gradient ascent in input space (see ascent.hpp).
#include "viz/ascent.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/error.hpp"
#include "tensor/rng.hpp"

namespace cnn::viz {

Model truncate_at(Model& model, std::size_t layer, std::optional<std::size_t> size) {
  // Keep `layer` and its ancestors. A kept layer without "inputs" reads the node just before
  // it, which is then an ancestor and kept too, so dropping the others changes no connection.
  std::vector<bool> keep(model.size(), false);
  keep[layer] = true;
  for (std::size_t i = layer + 1; i-- > 0;)
    if (keep[i])
      for (std::size_t j : model.node(i).inputs)
        if (j != Model::kModelInput) keep[j] = true;
  json_ordered arch = model.to_json();
  json_ordered layers = json_ordered::array();
  for (std::size_t i = 0; i <= layer; ++i)
    if (keep[i]) layers.push_back(arch["layers"][i]);
  arch["layers"] = std::move(layers);
  if (size) {
    const Shape& in = model.input_shape();
    arch["input_shape"] = {*size, *size, in.size() == 3 ? in[2] : 1};
  }
  Model t = Model::from_json(json::parse(arch.dump()), model.name() + " (truncated at " +
                                                           model.node(layer).layer->name() + ")");
  std::vector<Model::NamedParam> src = model.named_params();
  for (const auto& p : t.named_params())
    for (const auto& q : src)
      if (q.name == p.name)
        std::copy(q.param->value, q.param->value + q.param->size(), p.param->value);
  for (std::size_t i = 0; i < t.size(); ++i) t.set_trainable(i, false);
  return t;
}

io::Image deprocess(const std::vector<float>& x, std::size_t h, std::size_t w, std::size_t c) {
  double mean = 0, sq = 0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (float v : x) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(x.size()));
  io::Image img(h, w, c);
  for (std::size_t i = 0; i < x.size(); ++i) {
    double v = (x[i] - mean) / (sd + 1e-5) * 0.1 + 0.5;
    v = std::clamp(v, 0.0, 1.0) * 255.0;
    img.data[i] = static_cast<std::uint8_t>(v);  // astype('uint8') truncates
  }
  return img;
}

AscentResult gradient_ascent(Model& model, const AscentOptions& o) {
  const Model::Node& node = model.node(o.layer);
  if (node.layer->type() != "Conv2D")
    throw ConfigError("", "", node.layer->name(),
                      "filters needs a Conv2D layer, and this one is " + node.layer->type());
  const std::size_t channels = node.out_shape.at(2);
  const std::size_t first = std::min(o.first, channels), last = std::min(o.last, channels);
  if (first >= last)
    throw ConfigError("", "", node.layer->name(),
                      "no filters in the range " + std::to_string(o.first) + ":" +
                          std::to_string(o.last) + "; the layer has " + std::to_string(channels));
  Model t = truncate_at(model, o.layer, o.size);
  const std::size_t L = t.size() - 1;
  // The objective is the filter's response before its activation: a ReLU filter that is zero
  // everywhere on the grey start image (most of them, in a small convnet trained from scratch)
  // would otherwise have a zero gradient and never move.
  t.layer(L).set_activation(kernels::Act::Linear);
  const Shape in = t.input_shape();
  const std::size_t sample = numel(in);
  const Shape out = t.node(L).out_shape;
  const std::size_t oh = out[0], ow = out[1], oc = out[2], ohw = oh * ow;

  AscentResult r;
  Context ctx;  // inference: dropout off, batch normalisation with its moving statistics
  for (std::size_t f0 = first; f0 < last; f0 += std::max<std::size_t>(1, o.batch)) {
    const std::size_t b = std::min(std::max<std::size_t>(1, o.batch), last - f0);
    std::vector<float> p(b * sample);
    for (std::size_t s = 0; s < b; ++s) {
      Rng rng(o.seed + f0 + s);
      for (std::size_t i = 0; i < sample; ++i) p[s * sample + i] = 128.0f + 20.0f * rng.uniform();
    }
    std::vector<std::vector<double>> trace(b);
    Tensor x, grad_at, gx;
    ensure_shape(x, batch_shape(b, in));
    ensure_shape(grad_at, batch_shape(b, out));
    std::fill(grad_at.begin(), grad_at.end(), 0.0f);
    for (std::size_t s = 0; s < b; ++s)
      for (std::size_t q = 0; q < ohw; ++q)
        grad_at.data()[(s * ohw + q) * oc + f0 + s] = 1.0f / static_cast<float>(ohw);
    for (std::size_t step = 0; step <= o.steps; ++step) {
      for (std::size_t i = 0; i < p.size(); ++i) x.data()[i] = p[i] * o.rescale;
      const Tensor& y = t.forward(ctx, x);
      for (std::size_t s = 0; s < b; ++s) {
        double m = 0;
        for (std::size_t q = 0; q < ohw; ++q) m += y.data()[(s * ohw + q) * oc + f0 + s];
        trace[s].push_back(m / static_cast<double>(ohw));
      }
      if (step == o.steps) break;
      t.backward_from(ctx, x, L, grad_at, &gx);
      for (std::size_t s = 0; s < b; ++s) {
        float* g = gx.data() + s * sample;
        double sq = 0;
        for (std::size_t i = 0; i < sample; ++i) {
          g[i] *= o.rescale;  // d/dp = d/dx * rescale
          sq += static_cast<double>(g[i]) * g[i];
        }
        // The lecture divides by RMS + 1e-5; in pixel units the gradient of a model that scales
        // its input (1/255, ImageNet std) is often far below 1e-5, and the guard would swallow
        // the step. Only a zero gradient needs guarding: then the image stays as it is.
        const double rms = std::sqrt(sq / static_cast<double>(sample));
        if (rms == 0) continue;
        const float scale = static_cast<float>(o.step_size / rms);
        for (std::size_t i = 0; i < sample; ++i) p[s * sample + i] += scale * g[i];
      }
    }
    for (std::size_t s = 0; s < b; ++s) {
      r.filters.push_back(f0 + s);
      r.images.push_back(
          deprocess(std::vector<float>(p.begin() + static_cast<std::ptrdiff_t>(s * sample),
                                       p.begin() + static_cast<std::ptrdiff_t>((s + 1) * sample)),
                    in[0], in[1], in.size() == 3 ? in[2] : 1));
      r.objective.push_back(std::move(trace[s]));
    }
  }
  return r;
}

}  // namespace cnn::viz
