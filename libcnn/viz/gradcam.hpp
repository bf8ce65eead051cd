// Grad-CAM (Selvaraju et al. 2017; the lecture's "visualizing heatmaps of class activation"):
// which parts of an image make a model predict a class, from the gradient of the class score
// with respect to a convolutional layer's output.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "io/image.hpp"
#include "model/model.hpp"

namespace cnn::viz {

struct CamResult {
  std::size_t class_index = 0;       // the class explained
  std::vector<float> probabilities;  // the model's output per class (binary: [1 - p, p])
  std::size_t h = 0, w = 0;          // the conv layer's output size
  std::vector<float> heatmap;        // h x w, in [0, 1]
};

// For x [1, h, w, c] and a Conv2D node `conv` with output A (h' x w' x K):
// 1. probabilities from a forward pass; the class is cls, or the predicted one (argmax; for one
//    sigmoid output, 1 when p > 0.5);
// 2. the class score y: the last layer's output with its softmax/sigmoid taken off (the logit,
//    as in the paper, so the gradient does not vanish where the softmax saturates); for one
//    sigmoid output, y = z for class 1 and -z for class 0;
// 3. g = dy/dA (Model::backward_from), alpha_k = mean over (i, j) of g[i, j, k];
// 4. heatmap = ReLU(sum_k alpha_k A[:, :, k]), divided by its maximum (all 0 when the maximum
//    is 0).
// Throws ConfigError for a class out of range.
CamResult grad_cam(Model& model, const Tensor& x, std::size_t conv, std::optional<std::size_t> cls);

// Bilinear resize of a one-channel float image (pixel centres aligned, edges clamped, as
// OpenCV's cv2.resize INTER_LINEAR when enlarging).
std::vector<float> resize_bilinear(const std::vector<float>& src, std::size_t h, std::size_t w,
                                   std::size_t out_h, std::size_t out_w);

// The heatmap in jet (value v -> jet(round(255 v) / 255)), each cell enlarged to scale x scale.
io::Image heatmap_image(const std::vector<float>& heatmap, std::size_t h, std::size_t w,
                        std::size_t scale = 1);

// The heatmap resized to the photo (bilinear), coloured with jet and blended over it:
// out = (1 - opacity) * photo + opacity * jet(heatmap), rounded. photo: RGB.
io::Image superimpose(const io::Image& photo, const std::vector<float>& heatmap, std::size_t h,
                      std::size_t w, float opacity = 0.4f);

}  // namespace cnn::viz
