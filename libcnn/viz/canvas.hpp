// A small RGB raster for the PNG pictures of cnn-visualize: anti-aliased lines and polylines,
// discs, rectangles, anti-aliased text in DejaVu Sans (FreeType), and pasted images. Colours are
// 8-bit sRGB; blending is a plain linear mix in that space (what matplotlib's Agg does).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

// The font of every figure: DejaVu Sans, the file named by $CNN_FONT or else Debian's
// (fonts-dejavu-core). Loaded once, on first use; throws IoError (exit 1) naming the file and
// the package when it cannot be opened. Programs call it before long work that ends in a picture.
void require_font();
std::string font_path();

// Text metrics of DejaVu Sans as fractions of the font size (its OS/2 cap height, 1493/2048,
// and descender, 483/2048). SVG output uses them too, so it needs no font file.
constexpr float kCapHeight = 0.729f;
constexpr float kDescent = 0.236f;
constexpr float kTextSize = 11.0f;  // the default size in pixels (the em square)

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

  // Anti-aliased text, `size` pixels to the em. (x, y): the start of the cap line (the top of
  // capital letters); the baseline lies kCapHeight * size below it. UTF-8; characters the font
  // lacks are drawn as its empty box. Throws like require_font().
  void text(float x, float y, const std::string& s, Rgb colour, float size = kTextSize);
  // The same, rotated 90 degrees counter-clockwise (reads bottom to top): (x, y) is the start of
  // the cap line, which is the left edge of the rotated text; the text runs up from y.
  void text_vertical(float x, float y, const std::string& s, Rgb colour, float size = kTextSize);
  // The advance width of s (pixels), as text() draws it.
  static float text_width(const std::string& s, float size = kTextSize);
  // From the cap line to the descender line: the band a line of text needs.
  static float text_height(float size = kTextSize) { return (kCapHeight + kDescent) * size; }

  // Pastes img (1 or 3 channels) with its top-left corner at (x, y), each pixel as a
  // scale x scale block (nearest-neighbour enlargement), clipped.
  void paste(const io::Image& img, long x, long y, std::size_t scale = 1);

  io::Image image() const;

 private:
  void draw_text(float x, float y, const std::string& s, Rgb colour, float size, bool vertical);

  std::size_t w_, h_;
  std::vector<float> rgb_;  // h * w * 3, in [0, 255]
};

}  // namespace cnn::viz
