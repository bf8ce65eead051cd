// Activation grids: one layer's output for one input as a grid of channel tiles (the lecture's
// "visualizing intermediate activations"), and a Conv2D layer's raw kernels as small tiles.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "model/model.hpp"
#include "viz/grid.hpp"

namespace cnn::viz {

// Per-channel min-max normalisation of one sample's activation (HWC, h x w x c floats):
// channel k maps v to (v - min_k) / (max_k - min_k), min_k and max_k over that channel's h x w
// values; a constant channel (max_k == min_k, e.g. a dead ReLU) maps to 0 everywhere.
// Returns c planes of h x w, channel-major: out[k * h * w + y * w + x].
std::vector<float> normalise_channels(const float* hwc, std::size_t h, std::size_t w,
                                      std::size_t c);

struct LayerPicture {
  std::string layer;
  GridLayout layout;  // tile k is channel k
  io::Image image;
};

// Layer `node`'s output for sample 0 of the last forward (model.output_of(node)) as a grid of
// channel tiles in `cols` columns: each channel normalised as above and coloured with viridis
// (index round(255 * v)), enlarged by an integer factor to at least min_side pixels, labelled
// with its channel number; titled "name (Type) h x w x c". ShapeError (naming the layer) for an
// output that is not h x w x c.
LayerPicture activation_picture(const Model& model, std::size_t node, std::size_t cols = 16,
                                std::size_t min_side = 48);

// Nodes whose output is h x w x c (what activation_picture can draw), in order.
std::vector<std::size_t> spatial_layers(const Model& model);

// A Conv2D layer's kernel [kh, kw, in, out]: with 3 input channels one RGB tile per filter
// (channels as R, G, B), otherwise one grey tile per (filter, input channel) with a row per
// filter (at most the first 64 filters and 32 input channels). Each filter is min-max
// normalised over all its weights to 0..255 (a constant filter is black). Labels "f" or "f.i".
LayerPicture kernels_picture(Model& model, std::size_t node, std::size_t min_side = 24);

}  // namespace cnn::viz
