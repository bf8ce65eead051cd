// Grad-CAM (see gradcam.hpp).
#include "viz/gradcam.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/error.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

CamResult grad_cam(Model& model, const Tensor& x, std::size_t conv,
                   std::optional<std::size_t> cls) {
  CamResult r;
  Context ctx;  // inference
  const Tensor& probs = model.forward(ctx, x);
  const std::size_t k = probs.size() / probs.shape()[0];
  if (k == 1)
    r.probabilities = {1.0f - probs.data()[0], probs.data()[0]};
  else
    r.probabilities.assign(probs.data(), probs.data() + k);
  const std::size_t classes = r.probabilities.size();
  if (cls && *cls >= classes)
    throw ConfigError("", "", "",
                      "class " + std::to_string(*cls) + " is out of range; the model has " +
                          std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) +
                          ")");
  r.class_index = cls ? *cls
                      : static_cast<std::size_t>(
                            std::max_element(r.probabilities.begin(), r.probabilities.end()) -
                            r.probabilities.begin());
  const std::size_t last = model.size() - 1;
  {
    // The class score before a final softmax/sigmoid (Context::logits).
    const auto act = model.layer(last).activation();
    ctx.logits = act && (*act == kernels::Act::Softmax || *act == kernels::Act::Sigmoid);
    const Tensor& y = model.forward(ctx, x);
    Tensor g;
    ensure_shape(g, shape_of(y));
    std::fill(g.begin(), g.end(), 0.0f);
    if (k == 1)
      g.data()[0] = r.class_index == 1 ? 1.0f : -1.0f;
    else
      g.data()[r.class_index] = 1.0f;
    model.backward_from(ctx, x, last, g);
  }
  const Tensor& a = model.output_of(conv);
  const Tensor& ga = model.grad_of(conv);
  const Shape s = model.node(conv).out_shape;
  r.h = s.at(0), r.w = s.at(1);
  const std::size_t c = s.at(2), hw = r.h * r.w;
  std::vector<double> alpha(c, 0.0);
  for (std::size_t p = 0; p < hw; ++p)
    for (std::size_t j = 0; j < c; ++j) alpha[j] += ga.data()[p * c + j];
  for (double& v : alpha) v /= static_cast<double>(hw);
  r.heatmap.assign(hw, 0.0f);
  float hi = 0;
  for (std::size_t p = 0; p < hw; ++p) {
    double v = 0;
    for (std::size_t j = 0; j < c; ++j) v += alpha[j] * a.data()[p * c + j];
    r.heatmap[p] = std::max(0.0f, static_cast<float>(v));
    hi = std::max(hi, r.heatmap[p]);
  }
  if (hi > 0)
    for (float& v : r.heatmap) v /= hi;
  return r;
}

std::vector<float> resize_bilinear(const std::vector<float>& src, std::size_t h, std::size_t w,
                                   std::size_t oh, std::size_t ow) {
  std::vector<float> out(oh * ow);
  auto coord = [](std::size_t o, std::size_t in, std::size_t outn, std::size_t& i0, std::size_t& i1,
                  float& t) {
    float s =
        (static_cast<float>(o) + 0.5f) * static_cast<float>(in) / static_cast<float>(outn) - 0.5f;
    s = std::clamp(s, 0.0f, static_cast<float>(in - 1));
    i0 = static_cast<std::size_t>(std::floor(s));
    i1 = std::min(i0 + 1, in - 1);
    t = s - static_cast<float>(i0);
  };
  for (std::size_t y = 0; y < oh; ++y) {
    std::size_t y0, y1;
    float ty;
    coord(y, h, oh, y0, y1, ty);
    for (std::size_t x = 0; x < ow; ++x) {
      std::size_t x0, x1;
      float tx;
      coord(x, w, ow, x0, x1, tx);
      const float top = src[y0 * w + x0] * (1 - tx) + src[y0 * w + x1] * tx;
      const float bot = src[y1 * w + x0] * (1 - tx) + src[y1 * w + x1] * tx;
      out[y * ow + x] = top * (1 - ty) + bot * ty;
    }
  }
  return out;
}

io::Image heatmap_image(const std::vector<float>& heat, std::size_t h, std::size_t w,
                        std::size_t scale) {
  io::Image img(h * scale, w * scale, 3);
  for (std::size_t y = 0; y < h * scale; ++y)
    for (std::size_t x = 0; x < w * scale; ++x) {
      const Rgb c = jet(static_cast<float>(to_index(heat[(y / scale) * w + x / scale])) / 255.0f);
      img.at(y, x, 0) = c.r;
      img.at(y, x, 1) = c.g;
      img.at(y, x, 2) = c.b;
    }
  return img;
}

io::Image superimpose(const io::Image& photo, const std::vector<float>& heat, std::size_t h,
                      std::size_t w, float opacity) {
  const std::vector<float> big = resize_bilinear(heat, h, w, photo.h, photo.w);
  io::Image out(photo.h, photo.w, 3);
  for (std::size_t p = 0; p < photo.h * photo.w; ++p) {
    const Rgb c = jet(static_cast<float>(to_index(big[p])) / 255.0f);
    const float hc[3] = {static_cast<float>(c.r), static_cast<float>(c.g), static_cast<float>(c.b)};
    for (std::size_t ch = 0; ch < 3; ++ch) {
      const float v =
          (1 - opacity) * photo.data[p * photo.c + (photo.c >= 3 ? ch : 0)] + opacity * hc[ch];
      out.data[p * 3 + ch] = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f)));
    }
  }
  return out;
}

}  // namespace cnn::viz
