// SVG and raster back ends of Figure (see figure.hpp).
#include "viz/figure.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "viz/canvas.hpp"

namespace cnn::viz {
namespace {

std::string num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(v));
  return buf;
}

std::string colour(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

void attributes(std::ostringstream& o, const std::string& cls,
                const std::map<std::string, std::string>& data) {
  if (!cls.empty()) o << " class=\"" << xml_escape(cls) << "\"";
  for (const auto& [k, v] : data) o << " data-" << k << "=\"" << xml_escape(v) << "\"";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char ch : s) switch (ch) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&apos;";
        break;
      default:
        o += ch;
    }
  return o;
}

std::string render_svg(const Figure& f, SvgSize sizing) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"";
  if (sizing == SvgSize::fixed)
    o << " width=\"" << num(f.width) << "\" height=\"" << num(f.height) << "\"";
  else
    o << " width=\"100%\" style=\"max-width:" << num(f.width) << "px;height:auto\"";
  o << " viewBox=\"0 0 " << num(f.width) << " " << num(f.height) << "\">\n";
  for (const bool top : {false, true}) {
    for (const auto& r : f.rects) {
      if (r.top != top) continue;
      o << "<rect";
      attributes(o, r.cls, r.data);
      o << " x=\"" << num(r.x) << "\" y=\"" << num(r.y) << "\" width=\"" << num(r.w)
        << "\" height=\"" << num(r.h) << "\" fill=\"" << colour(r.fill) << "\"";
      if (r.alpha < 1) o << " fill-opacity=\"" << num(r.alpha) << "\"";
      if (r.stroke) o << " stroke=\"#404040\" stroke-width=\"1\"";
      o << "/>\n";
    }
    for (const auto& p : f.polys) {
      if (p.top != top) continue;
      o << "<polyline";
      attributes(o, p.cls, p.data);
      o << " fill=\"none\" stroke=\"" << colour(p.colour) << "\" stroke-width=\"" << num(p.width)
        << "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"";
      if (p.alpha < 1) o << " stroke-opacity=\"" << num(p.alpha) << "\"";
      if (p.dash > 0) o << " stroke-dasharray=\"" << num(p.dash) << " " << num(p.dash) << "\"";
      o << " points=\"";
      for (std::size_t i = 0; i < p.xs.size(); ++i)
        o << (i ? " " : "") << num(p.xs[i]) << "," << num(p.ys[i]);
      o << "\"/>\n";
    }
    for (const auto& d : f.discs) {
      if (d.top != top) continue;
      o << "<circle";
      attributes(o, d.cls, d.data);
      o << " cx=\"" << num(d.cx) << "\" cy=\"" << num(d.cy) << "\" r=\"" << num(d.r) << "\" fill=\""
        << colour(d.colour) << "\"";
      if (d.alpha < 1) o << " fill-opacity=\"" << num(d.alpha) << "\"";
      o << "/>\n";
    }
  }
  for (const auto& t : f.texts) {
    const char* anchor = t.anchor == Figure::Anchor::start    ? "start"
                         : t.anchor == Figure::Anchor::middle ? "middle"
                                                              : "end";
    const float base = kCapHeight * t.size;  // y is the cap line; SVG places the baseline
    o << "<text font-family=\"DejaVu Sans, sans-serif\" font-size=\"" << num(t.size)
      << "\" text-anchor=\"" << anchor << "\" fill=\"" << colour(t.colour) << "\"";
    if (t.vertical)
      o << " transform=\"translate(" << num(t.x + base) << "," << num(t.y) << ") rotate(-90)\"";
    else
      o << " x=\"" << num(t.x) << "\" y=\"" << num(t.y + base) << "\"";
    o << ">" << xml_escape(t.s) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

io::Image render_png(const Figure& f) {
  Canvas cv(static_cast<std::size_t>(std::ceil(f.width)),
            static_cast<std::size_t>(std::ceil(f.height)));
  for (const bool top : {false, true}) {
    for (const auto& r : f.rects) {
      if (r.top != top) continue;
      const long x = std::lround(r.x), y = std::lround(r.y), w = std::lround(r.w),
                 h = std::lround(r.h);
      cv.fill_rect(x, y, w, h, r.fill, r.alpha);
      if (r.stroke) cv.stroke_rect(x, y, w, h, {64, 64, 64});
    }
    for (const auto& p : f.polys)
      if (p.top == top) cv.polyline(p.xs, p.ys, p.width, p.colour, p.alpha, p.dash);
    for (const auto& d : f.discs)
      if (d.top == top) cv.disc(d.cx, d.cy, d.r, d.colour, d.alpha);
  }
  for (const auto& t : f.texts) {
    const float len = t.anchor == Figure::Anchor::start ? 0 : Canvas::text_width(t.s, t.size);
    const float shift = t.anchor == Figure::Anchor::middle ? len / 2 : len;
    if (t.vertical)
      cv.text_vertical(t.x, t.y + shift, t.s, t.colour, t.size);
    else
      cv.text(t.x - shift, t.y, t.s, t.colour, t.size);
  }
  return cv.image();
}

}  // namespace cnn::viz
