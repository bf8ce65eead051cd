// Canvas: rasterising lines, discs, rectangles and bitmap text (see canvas.hpp).
#include "viz/canvas.hpp"

#include <algorithm>
#include <cmath>

namespace cnn::viz {
namespace {

// The classic 5x7 LCD font, printable ASCII 32..126: five columns per glyph, bit k of a column
// is row k from the top.
const std::uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x08, 0x2A, 0x1C, 0x2A, 0x08}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x01, 0x01},
    {0x3E, 0x41, 0x41, 0x51, 0x32}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x04, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x7F, 0x20, 0x18, 0x20, 0x7F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x08, 0x14, 0x54, 0x54, 0x3C},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7C, 0x14, 0x14, 0x14, 0x08},
    {0x08, 0x14, 0x14, 0x18, 0x7C}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08}};

const std::uint8_t* glyph(char ch) {
  const int c = static_cast<unsigned char>(ch);
  return kFont[(c >= 32 && c <= 126 ? c : '?') - 32];
}

// Distance from (px, py) to the segment (x0, y0)-(x1, y1).
float segment_distance(float px, float py, float x0, float y0, float x1, float y1) {
  const float dx = x1 - x0, dy = y1 - y0;
  const float len2 = dx * dx + dy * dy;
  float t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0.0f;
  t = std::clamp(t, 0.0f, 1.0f);
  const float ex = x0 + t * dx - px, ey = y0 + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

}  // namespace

Canvas::Canvas(std::size_t w, std::size_t h, Rgb bg) : w_(w), h_(h), rgb_(w * h * 3) {
  for (std::size_t i = 0; i < w * h; ++i) {
    rgb_[3 * i] = bg.r;
    rgb_[3 * i + 1] = bg.g;
    rgb_[3 * i + 2] = bg.b;
  }
}

void Canvas::blend(long x, long y, Rgb c, float a) {
  if (x < 0 || y < 0 || x >= static_cast<long>(w_) || y >= static_cast<long>(h_) || a <= 0) return;
  a = std::min(a, 1.0f);
  float* p = &rgb_[(static_cast<std::size_t>(y) * w_ + static_cast<std::size_t>(x)) * 3];
  p[0] += (c.r - p[0]) * a;
  p[1] += (c.g - p[1]) * a;
  p[2] += (c.b - p[2]) * a;
}

Rgb Canvas::pixel(std::size_t x, std::size_t y) const {
  const float* p = &rgb_[(y * w_ + x) * 3];
  auto q = [](float v) { return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f))); };
  return {q(p[0]), q(p[1]), q(p[2])};
}

void Canvas::fill_rect(long x, long y, long w, long h, Rgb c, float a) {
  for (long j = std::max(0L, y); j < std::min<long>(y + h, static_cast<long>(h_)); ++j)
    for (long i = std::max(0L, x); i < std::min<long>(x + w, static_cast<long>(w_)); ++i) blend(i, j, c, a);
}

void Canvas::stroke_rect(long x, long y, long w, long h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::polyline(const std::vector<float>& xs, const std::vector<float>& ys, float width,
                      Rgb c, float a, float dash) {
  const std::size_t n = std::min(xs.size(), ys.size());
  if (n == 0) return;
  // Segments to draw (dashes split the path into pieces of length dash).
  struct Seg {
    float x0, y0, x1, y1;
  };
  std::vector<Seg> segs;
  if (n == 1) segs.push_back({xs[0], ys[0], xs[0], ys[0]});
  float along = 0;
  for (std::size_t i = 1; i < n; ++i) {
    const float dx = xs[i] - xs[i - 1], dy = ys[i] - ys[i - 1];
    const float len = std::sqrt(dx * dx + dy * dy);
    if (dash <= 0 || len == 0) {
      segs.push_back({xs[i - 1], ys[i - 1], xs[i], ys[i]});
      continue;
    }
    float t = 0;
    while (t < len) {
      const float phase = std::fmod(along + t, 2 * dash);
      const float run = phase < dash ? dash - phase : 2 * dash - phase;
      const float t1 = std::min(len, t + run);
      if (phase < dash)
        segs.push_back({xs[i - 1] + dx * t / len, ys[i - 1] + dy * t / len,
                        xs[i - 1] + dx * t1 / len, ys[i - 1] + dy * t1 / len});
      t = t1;
    }
    along += len;
  }
  // Coverage per pixel is the maximum over segments, so overlapping segments blend once.
  const float r = width / 2 + 0.5f;
  float minx = 1e30f, miny = 1e30f, maxx = -1e30f, maxy = -1e30f;
  for (const Seg& s : segs) {
    minx = std::min({minx, s.x0, s.x1});
    maxx = std::max({maxx, s.x0, s.x1});
    miny = std::min({miny, s.y0, s.y1});
    maxy = std::max({maxy, s.y0, s.y1});
  }
  const long x0 = std::max(0L, static_cast<long>(std::floor(minx - r)));
  const long y0 = std::max(0L, static_cast<long>(std::floor(miny - r)));
  const long x1 = std::min(static_cast<long>(w_) - 1, static_cast<long>(std::ceil(maxx + r)));
  const long y1 = std::min(static_cast<long>(h_) - 1, static_cast<long>(std::ceil(maxy + r)));
  if (x1 < x0 || y1 < y0) return;
  const std::size_t bw = static_cast<std::size_t>(x1 - x0 + 1);
  std::vector<float> cov(bw * static_cast<std::size_t>(y1 - y0 + 1), 0.0f);
  for (const Seg& s : segs) {
    const long sx0 = std::max(x0, static_cast<long>(std::floor(std::min(s.x0, s.x1) - r)));
    const long sx1 = std::min(x1, static_cast<long>(std::ceil(std::max(s.x0, s.x1) + r)));
    const long sy0 = std::max(y0, static_cast<long>(std::floor(std::min(s.y0, s.y1) - r)));
    const long sy1 = std::min(y1, static_cast<long>(std::ceil(std::max(s.y0, s.y1) + r)));
    for (long y = sy0; y <= sy1; ++y)
      for (long x = sx0; x <= sx1; ++x) {
        const float d = segment_distance(static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f,
                                         s.x0, s.y0, s.x1, s.y1);
        float& cv = cov[static_cast<std::size_t>(y - y0) * bw + static_cast<std::size_t>(x - x0)];
        cv = std::max(cv, std::clamp(r - d, 0.0f, 1.0f));
      }
  }
  for (long y = y0; y <= y1; ++y)
    for (long x = x0; x <= x1; ++x)
      blend(x, y, c, a * cov[static_cast<std::size_t>(y - y0) * bw + static_cast<std::size_t>(x - x0)]);
}

void Canvas::line(float x0, float y0, float x1, float y1, float width, Rgb c, float a) {
  polyline({x0, x1}, {y0, y1}, width, c, a);
}

void Canvas::disc(float cx, float cy, float rad, Rgb c, float a) {
  for (long y = static_cast<long>(std::floor(cy - rad - 1)); y <= static_cast<long>(std::ceil(cy + rad + 1)); ++y)
    for (long x = static_cast<long>(std::floor(cx - rad - 1)); x <= static_cast<long>(std::ceil(cx + rad + 1)); ++x) {
      const float dx = static_cast<float>(x) + 0.5f - cx, dy = static_cast<float>(y) + 0.5f - cy;
      blend(x, y, c, a * std::clamp(rad + 0.5f - std::sqrt(dx * dx + dy * dy), 0.0f, 1.0f));
    }
}

void Canvas::text(long x, long y, const std::string& s, Rgb c, int scale) {
  for (std::size_t k = 0; k < s.size(); ++k) {
    const std::uint8_t* g = glyph(s[k]);
    const long cx = x + static_cast<long>(k) * 6 * scale;
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 7; ++row)
        if (g[col] >> row & 1) fill_rect(cx + col * scale, y + row * scale, scale, scale, c);
  }
}

void Canvas::text_vertical(long x, long y, const std::string& s, Rgb c, int scale) {
  // Rotating counter-clockwise: font column col goes up from the baseline, row goes right.
  for (std::size_t k = 0; k < s.size(); ++k) {
    const std::uint8_t* g = glyph(s[k]);
    const long cy = y - static_cast<long>(k) * 6 * scale;
    for (int col = 0; col < 5; ++col)
      for (int row = 0; row < 7; ++row)
        if (g[col] >> row & 1) fill_rect(x + row * scale, cy - (col + 1) * scale, scale, scale, c);
  }
}

void Canvas::paste(const io::Image& img, long x, long y, std::size_t scale) {
  for (std::size_t j = 0; j < img.h * scale; ++j)
    for (std::size_t i = 0; i < img.w * scale; ++i) {
      const std::size_t sy = j / scale, sx = i / scale;
      const Rgb c = img.c >= 3 ? Rgb{img.at(sy, sx, 0), img.at(sy, sx, 1), img.at(sy, sx, 2)}
                               : Rgb{img.at(sy, sx, 0), img.at(sy, sx, 0), img.at(sy, sx, 0)};
      blend(x + static_cast<long>(i), y + static_cast<long>(j), c, 1.0f);
    }
}

io::Image Canvas::image() const {
  io::Image img(h_, w_, 3);
  for (std::size_t y = 0; y < h_; ++y)
    for (std::size_t x = 0; x < w_; ++x) {
      const Rgb p = pixel(x, y);
      img.at(y, x, 0) = p.r;
      img.at(y, x, 1) = p.g;
      img.at(y, x, 2) = p.b;
    }
  return img;
}

}  // namespace cnn::viz
