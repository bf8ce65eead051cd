// A small RGB raster for the PNG pictures of cnn-visualize: anti-aliased lines and polylines,
// discs, rectangles, text in an embedded 5x7 bitmap font, and pasted images. Colours are 8-bit
// sRGB; blending is a plain linear mix in that space (what matplotlib's Agg does).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

class Canvas {
 public:
  Canvas(std::size_t w, std::size_t h, Rgb background = {255, 255, 255});

  std::size_t width() const { return w_; }
  std::size_t height() const { return h_; }

  // Mixes colour into pixel (x, y) with weight alpha in [0, 1]; outside the canvas: nothing.
  void blend(long x, long y, Rgb colour, float alpha = 1.0f);
  Rgb pixel(std::size_t x, std::size_t y) const;

  // Pixels [x, x + w) x [y, y + h), clipped.
  void fill_rect(long x, long y, long w, long h, Rgb colour, float alpha = 1.0f);
  // A one-pixel outline of that rectangle.
  void stroke_rect(long x, long y, long w, long h, Rgb colour);
  // A polyline of the given width through (xs[i], ys[i]) (pixel coordinates: pixel (i, j)
  // covers [i, i + 1) x [j, j + 1)). Anti-aliased: a pixel's coverage is
  // clamp(width / 2 + 0.5 - d, 0, 1), d the distance of its centre to the nearest segment, so
  // joints are not painted twice. dash > 0 draws dashes of that length (gaps as long).
  void polyline(const std::vector<float>& xs, const std::vector<float>& ys, float width, Rgb colour,
                float alpha = 1.0f, float dash = 0.0f);
  void line(float x0, float y0, float x1, float y1, float width, Rgb colour, float alpha = 1.0f);
  // An anti-aliased disc of radius r.
  void disc(float cx, float cy, float r, Rgb colour, float alpha = 1.0f);

  // Text in the 5x7 font, each font pixel drawn as a scale x scale block; (x, y) is the top-left
  // corner of the first character cell (6 x 8 font pixels: one column and one row of spacing).
  // Characters outside printable ASCII are drawn as '?'.
  void text(long x, long y, const std::string& s, Rgb colour, int scale = 1);
  // The same, rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) is the
  // bottom-left corner of the first cell.
  void text_vertical(long x, long y, const std::string& s, Rgb colour, int scale = 1);
  static long text_width(const std::string& s, int scale = 1) {
    return static_cast<long>(s.size()) * 6 * scale;
  }
  static long text_height(int scale = 1) { return 8L * scale; }

  // Pastes img (1 or 3 channels) with its top-left corner at (x, y), each pixel as a
  // scale x scale block (nearest-neighbour enlargement), clipped.
  void paste(const io::Image& img, long x, long y, std::size_t scale = 1);

  io::Image image() const;

 private:
  std::size_t w_, h_;
  std::vector<float> rgb_;  // h * w * 3, in [0, 255]
};

}  // namespace cnn::viz
