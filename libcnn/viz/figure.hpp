// A figure as a list of drawing primitives (polylines, discs, rectangles, text), rendered either
// as SVG text or rasterised to a PNG by Canvas, so that both outputs show the same thing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

struct Figure {
  struct Poly {
    std::vector<float> xs, ys;
    float width = 1;
    Rgb colour;
    float alpha = 1;
    float dash = 0;                             // dash length; 0: solid
    std::string cls;                            // SVG class attribute
    std::map<std::string, std::string> data;    // SVG data-* attributes
    bool top = false;                           // drawn in the second pass (legends)
  };
  struct Disc {
    float cx, cy, r;
    Rgb colour;
    float alpha = 1;
    bool top = false;
  };
  struct Rect {
    float x, y, w, h;
    Rgb fill;
    float alpha = 1;
    bool stroke = false;  // a one-pixel dark grey outline
    bool top = false;
  };
  enum class Anchor { start, middle, end };
  struct Text {
    float x, y;  // the anchor point on the top edge of the text (vertical: left edge)
    std::string s;
    int scale = 1;  // font pixels are scale x scale (the 5x7 font is 8 * scale pixels high)
    Rgb colour;
    Anchor anchor = Anchor::start;
    bool vertical = false;  // reads bottom to top, anchored along the y axis
  };

  float width = 0, height = 0;
  std::vector<Rect> rects;
  std::vector<Poly> polys;
  std::vector<Disc> discs;
  std::vector<Text> texts;
};

// Standalone SVG 1.1 text (no external resources). Drawing order: rectangles, polylines and
// circles without `top`, then those with it (a legend over the curves), then all text.
std::string render_svg(const Figure& fig);
// The same, rasterised (anti-aliased lines and discs, bitmap text).
io::Image render_png(const Figure& fig);

// XML-escapes &, <, >, " and '.
std::string xml_escape(const std::string& s);

}  // namespace cnn::viz
