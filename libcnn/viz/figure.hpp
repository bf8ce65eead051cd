// A figure as a list of drawing primitives (polylines, discs, rectangles, text), rendered either
// as SVG text or rasterised to a PNG by Canvas, so that both outputs show the same thing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "viz/canvas.hpp"
#include "viz/colormap.hpp"

namespace cnn::viz {

struct Figure {
  struct Poly {
    std::vector<float> xs, ys;
    float width = 1;
    Rgb colour;
    float alpha = 1;
    float dash = 0;                           // dash length; 0: solid
    std::string cls;                          // SVG class attribute
    std::map<std::string, std::string> data;  // SVG data-* attributes
    bool top = false;                         // drawn in the second pass (legends)
  };
  struct Disc {
    float cx, cy, r;
    Rgb colour;
    float alpha = 1;
    bool top = false;
    std::string cls{};                          // SVG class attribute
    std::map<std::string, std::string> data{};  // SVG data-* attributes
  };
  struct Rect {
    float x, y, w, h;
    Rgb fill;
    float alpha = 1;
    bool stroke = false;  // a one-pixel dark grey outline
    bool top = false;
    std::string cls{};                          // SVG class attribute
    std::map<std::string, std::string> data{};  // SVG data-* attributes
  };
  enum class Anchor { start, middle, end };
  struct Text {
    float x, y;  // the anchor point on the cap line, the top of capitals (vertical: left edge)
    std::string s;
    float size = kTextSize;  // pixels to the em; the baseline is kCapHeight * size below y
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

// How an SVG is sized: `fixed` width and height in pixels (a standalone file), or `fluid`: as
// wide as its container up to its own width, the height following the aspect ratio (a figure
// inlined in an HTML page that must fit a narrow window).
enum class SvgSize { fixed, fluid };

// Standalone SVG 1.1 text (no external resources) with a viewBox of the figure's size. Drawing
// order: rectangles, polylines and circles without `top`, then those with it (a legend over the
// curves), then all text, in DejaVu Sans (falling back to the viewer's sans-serif).
std::string render_svg(const Figure& fig, SvgSize sizing = SvgSize::fixed);
// The same, rasterised (anti-aliased lines, discs and text; throws like require_font()).
io::Image render_png(const Figure& fig);

// XML-escapes &, <, >, " and '.
std::string xml_escape(const std::string& s);

}  // namespace cnn::viz
