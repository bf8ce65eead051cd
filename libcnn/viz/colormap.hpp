// Colour maps of the visualisations: viridis (perceptually uniform, for activations) and jet
// (for Grad-CAM heatmaps, as the lecture's cv2.COLORMAP_JET), both as matplotlib defines them.
#pragma once

#include <cstdint>

namespace cnn::viz {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// matplotlib's 256-entry viridis table, rounded to 8 bits: entry i = round(255 * viridis[i]).
Rgb viridis(std::uint8_t index);

// matplotlib's jet: piecewise-linear red/green/blue ramps (segment data of matplotlib._cm), at
// t in [0, 1] (clamped); dark blue at 0, green-yellow at 0.5, dark red at 1. Channels are
// round(255 * ramp(t)).
Rgb jet(float t);

// The table index of a value normalised to [0, 1]: round(255 * clamp(v, 0, 1)).
std::uint8_t to_index(float v);

}  // namespace cnn::viz
