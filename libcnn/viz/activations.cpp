// Activation grids and kernel tiles (see activations.hpp).
#include "viz/activations.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/error.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

std::vector<float> normalise_channels(const float* a, std::size_t h, std::size_t w, std::size_t c) {
  const std::size_t hw = h * w;
  std::vector<float> out(c * hw, 0.0f);
  for (std::size_t k = 0; k < c; ++k) {
    float lo = a[k], hi = a[k];
    for (std::size_t p = 0; p < hw; ++p) {
      lo = std::min(lo, a[p * c + k]);
      hi = std::max(hi, a[p * c + k]);
    }
    if (!(hi > lo)) continue;  // constant channel: 0
    const float inv = 1.0f / (hi - lo);
    for (std::size_t p = 0; p < hw; ++p) out[k * hw + p] = (a[p * c + k] - lo) * inv;
  }
  return out;
}

std::vector<std::size_t> spatial_layers(const Model& model) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < model.size(); ++i)
    if (model.node(i).out_shape.size() == 3) out.push_back(i);
  return out;
}

LayerPicture activation_picture(const Model& model, std::size_t node, std::size_t cols,
                                std::size_t min_side) {
  const Model::Node& n = model.node(node);
  const Shape& s = n.out_shape;
  if (s.size() != 3)
    throw ShapeError(n.layer->name(),
                     "activations are drawn for outputs (h, w, c); this one is " + shape_str(s),
                     n.layer->type());
  const std::size_t h = s[0], w = s[1], c = s[2];
  const std::vector<float> norm = normalise_channels(model.output_of(node).data(), h, w, c);
  std::vector<io::Image> tiles;
  std::vector<std::string> labels;
  for (std::size_t k = 0; k < c; ++k) {
    io::Image t(h, w, 3);
    for (std::size_t p = 0; p < h * w; ++p) {
      const Rgb v = viridis(to_index(norm[k * h * w + p]));
      t.data[3 * p] = v.r;
      t.data[3 * p + 1] = v.g;
      t.data[3 * p + 2] = v.b;
    }
    tiles.push_back(std::move(t));
    labels.push_back(std::to_string(k));
  }
  LayerPicture pic;
  pic.layer = n.layer->name();
  pic.layout = grid_layout(c, w, h, cols, min_side, true, true);
  const std::string title = n.layer->name() + " (" + n.layer->type() + ") " + std::to_string(h) +
                            "x" + std::to_string(w) + "x" + std::to_string(c);
  pic.image = render_grid(pic.layout, tiles, labels, title);
  return pic;
}

LayerPicture kernels_picture(Model& model, std::size_t node, std::size_t min_side) {
  Layer& layer = model.layer(node);
  const Param* kernel = nullptr;
  for (const Param& p : layer.params())
    if (p.name == "kernel") kernel = &p;
  if (!kernel || kernel->shape.size() != 4)
    throw ShapeError(layer.name(), "has no [kh, kw, in, out] kernel to draw", layer.type());
  const std::size_t kh = kernel->shape[0], kw = kernel->shape[1], in = kernel->shape[2],
                    out = kernel->shape[3];
  const float* k = kernel->value;
  auto at = [&](std::size_t y, std::size_t x, std::size_t i, std::size_t o) {
    return k[((y * kw + x) * in + i) * out + o];
  };
  const bool rgb = in == 3;
  const std::size_t shown_out = std::min<std::size_t>(out, 64),
                    shown_in = rgb ? 1 : std::min<std::size_t>(in, 32);
  std::vector<io::Image> tiles;
  std::vector<std::string> labels;
  for (std::size_t o = 0; o < shown_out; ++o) {
    float lo = at(0, 0, 0, o), hi = lo;
    for (std::size_t y = 0; y < kh; ++y)
      for (std::size_t x = 0; x < kw; ++x)
        for (std::size_t i = 0; i < in; ++i)
          lo = std::min(lo, at(y, x, i, o)), hi = std::max(hi, at(y, x, i, o));
    const float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    auto byte = [&](float v) { return static_cast<std::uint8_t>(std::lround((v - lo) * scale)); };
    for (std::size_t i = 0; i < shown_in; ++i) {
      io::Image t(kh, kw, rgb ? 3 : 1);
      for (std::size_t y = 0; y < kh; ++y)
        for (std::size_t x = 0; x < kw; ++x)
          for (std::size_t ch = 0; ch < t.c; ++ch) t.at(y, x, ch) = byte(at(y, x, rgb ? ch : i, o));
      tiles.push_back(std::move(t));
      std::string label = std::to_string(o);
      if (!rgb && shown_in > 1) label.append(".").append(std::to_string(i));
      labels.push_back(std::move(label));
    }
  }
  LayerPicture pic;
  pic.layer = layer.name();
  pic.layout =
      grid_layout(tiles.size(), kw, kh, rgb || shown_in == 1 ? 16 : shown_in, min_side, true, true);
  std::string title = layer.name() + " kernels " + std::to_string(kh) + "x" + std::to_string(kw) +
                      "x" + std::to_string(in) + "x" + std::to_string(out);
  if (shown_out < out || (!rgb && shown_in < in)) {
    title.append(" (first ").append(std::to_string(shown_out));
    if (!rgb) title.append("x").append(std::to_string(shown_in));
    title.append(")");
  }
  pic.image = render_grid(pic.layout, tiles, labels, title);
  return pic;
}

}  // namespace cnn::viz
