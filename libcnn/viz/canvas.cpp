// Canvas: rasterising lines, discs, rectangles and text (see canvas.hpp); glyphs come from
// FreeType, rendered once per (character, size) and cached.
#include "viz/canvas.hpp"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "tensor/error.hpp"

namespace cnn::viz {
namespace {

// Distance from (px, py) to the segment (x0, y0)-(x1, y1).
float segment_distance(float px, float py, float x0, float y0, float x1, float y1) {
  const float dx = x1 - x0, dy = y1 - y0;
  const float len2 = dx * dx + dy * dy;
  float t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0.0f;
  t = std::clamp(t, 0.0f, 1.0f);
  const float ex = x0 + t * dx - px, ey = y0 + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

// UTF-8 to code points; a malformed byte becomes U+FFFD.
std::vector<std::uint32_t> utf8_decode(const std::string& s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int extra = b < 0x80         ? 0
                      : (b >> 5) == 6  ? 1
                      : (b >> 4) == 14 ? 2
                      : (b >> 3) == 30 ? 3
                                       : -1;
    std::uint32_t cp = extra == 0 ? b : extra == 1 ? b & 0x1Fu : extra == 2 ? b & 0x0Fu : b & 0x07u;
    bool ok = extra >= 0 && i + static_cast<std::size_t>(extra) < s.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      ok = (cb >> 6) == 2;
      cp = cp << 6 | (cb & 0x3Fu);
    }
    out.push_back(ok ? cp : 0xFFFD);
    i += ok ? static_cast<std::size_t>(extra) + 1 : 1;
  }
  return out;
}

struct Glyph {
  long left = 0, top = 0, w = 0, h = 0;  // bitmap offset from the pen (top: up from the baseline)
  float advance = 0;                     // pixels
  std::vector<std::uint8_t> coverage;    // h x w, 0..255
};

// The face and its glyph cache. FreeType objects are not thread-safe: callers hold `mutex`.
class Font {
 public:
  static Font& get() {
    static std::mutex load_mutex;
    static std::unique_ptr<Font> font;
    const std::lock_guard<std::mutex> lock(load_mutex);
    if (!font) font.reset(new Font(font_path()));
    return *font;
  }
  ~Font() {
    FT_Done_Face(face_);
    FT_Done_FreeType(lib_);
  }
  Font(const Font&) = delete;
  Font& operator=(const Font&) = delete;

  const Glyph& glyph(std::uint32_t cp, float size) {
    const long key_size = std::lround(size * 64);  // 26.6 fixed point, FreeType's unit
    const auto key = std::make_pair(cp, key_size);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    set_size(key_size);
    Glyph g;
    // Light hinting: vertical-only grid fitting, the anti-aliased look of most desktops, with
    // stems sharp at 10-16 pixels.
    if (FT_Load_Char(face_, cp, FT_LOAD_RENDER | FT_LOAD_TARGET_LIGHT) == 0) {
      const FT_GlyphSlot slot = face_->glyph;
      const FT_Bitmap& bm = slot->bitmap;
      g.left = slot->bitmap_left;
      g.top = slot->bitmap_top;
      g.w = static_cast<long>(bm.width);
      g.h = static_cast<long>(bm.rows);
      g.advance = static_cast<float>(slot->advance.x) / 64.0f;
      g.coverage.resize(static_cast<std::size_t>(g.w * g.h));
      for (long r = 0; r < g.h; ++r)
        for (long k = 0; k < g.w; ++k)
          g.coverage[static_cast<std::size_t>(r * g.w + k)] = bm.buffer[r * bm.pitch + k];
    }
    return cache_.emplace(key, std::move(g)).first->second;
  }

  float kerning(std::uint32_t a, std::uint32_t b, float size) {
    if (a == 0 || !FT_HAS_KERNING(face_)) return 0;
    set_size(std::lround(size * 64));
    FT_Vector k{0, 0};
    if (FT_Get_Kerning(face_, FT_Get_Char_Index(face_, a), FT_Get_Char_Index(face_, b),
                       FT_KERNING_DEFAULT, &k) != 0)
      return 0;
    return static_cast<float>(k.x) / 64.0f;
  }

  std::mutex mutex;

 private:
  explicit Font(const std::string& path) {
    if (FT_Init_FreeType(&lib_) != 0)
      throw IoError(path, "load the figure font", "FreeType failed to start");
    if (FT_New_Face(lib_, path.c_str(), 0, &face_) != 0) {
      FT_Done_FreeType(lib_);
      throw IoError(
          path, "load the figure font",
          "no such file or not a font (install Debian's fonts-dejavu-core, or set CNN_FONT to a "
          "TrueType font)");
    }
  }
  void set_size(long size_26_6) {
    if (size_26_6 == size_) return;
    FT_Set_Char_Size(face_, 0, size_26_6, 72, 72);  // at 72 dpi, points are pixels
    size_ = size_26_6;
  }

  FT_Library lib_ = nullptr;
  FT_Face face_ = nullptr;
  long size_ = 0;
  std::map<std::pair<std::uint32_t, long>, Glyph> cache_;
};

}  // namespace

std::string font_path() {
  const char* env = std::getenv("CNN_FONT");
  return env && *env ? env : "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}

void require_font() { Font::get(); }

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
  auto q = [](float v) {
    return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f)));
  };
  return {q(p[0]), q(p[1]), q(p[2])};
}

void Canvas::fill_rect(long x, long y, long w, long h, Rgb c, float a) {
  for (long j = std::max(0L, y); j < std::min<long>(y + h, static_cast<long>(h_)); ++j)
    for (long i = std::max(0L, x); i < std::min<long>(x + w, static_cast<long>(w_)); ++i)
      blend(i, j, c, a);
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
      blend(x, y, c,
            a * cov[static_cast<std::size_t>(y - y0) * bw + static_cast<std::size_t>(x - x0)]);
}

void Canvas::line(float x0, float y0, float x1, float y1, float width, Rgb c, float a) {
  polyline({x0, x1}, {y0, y1}, width, c, a);
}

void Canvas::disc(float cx, float cy, float rad, Rgb c, float a) {
  for (long y = static_cast<long>(std::floor(cy - rad - 1));
       y <= static_cast<long>(std::ceil(cy + rad + 1)); ++y)
    for (long x = static_cast<long>(std::floor(cx - rad - 1));
         x <= static_cast<long>(std::ceil(cx + rad + 1)); ++x) {
      const float dx = static_cast<float>(x) + 0.5f - cx, dy = static_cast<float>(y) + 0.5f - cy;
      blend(x, y, c, a * std::clamp(rad + 0.5f - std::sqrt(dx * dx + dy * dy), 0.0f, 1.0f));
    }
}

void Canvas::text(float x, float y, const std::string& s, Rgb c, float size) {
  draw_text(x, y, s, c, size, false);
}

void Canvas::text_vertical(float x, float y, const std::string& s, Rgb c, float size) {
  draw_text(x, y, s, c, size, true);
}

float Canvas::text_width(const std::string& s, float size) {
  Font& font = Font::get();
  const std::lock_guard<std::mutex> lock(font.mutex);
  float pen = 0;
  std::uint32_t prev = 0;
  for (const std::uint32_t cp : utf8_decode(s)) {
    pen += font.kerning(prev, cp, size) + font.glyph(cp, size).advance;
    prev = cp;
  }
  return pen;
}

void Canvas::draw_text(float x, float y, const std::string& s, Rgb c, float size, bool vertical) {
  Font& font = Font::get();
  const std::lock_guard<std::mutex> lock(font.mutex);
  // Text-local pixels: u along the text from its start, v down from the cap line; glyph
  // bitmaps sit on whole pixels (hinted glyphs are designed for that), pens advance in
  // fractions.
  const long ox = std::lround(x), oy = std::lround(y);
  const long baseline = std::lround(kCapHeight * size);
  float pen = 0;
  std::uint32_t prev = 0;
  for (const std::uint32_t cp : utf8_decode(s)) {
    pen += font.kerning(prev, cp, size);
    prev = cp;
    const Glyph& g = font.glyph(cp, size);
    const long u0 = std::lround(pen) + g.left, v0 = baseline - g.top;
    for (long r = 0; r < g.h; ++r)
      for (long k = 0; k < g.w; ++k) {
        const float a = g.coverage[static_cast<std::size_t>(r * g.w + k)] / 255.0f;
        if (a <= 0) continue;
        if (vertical)
          blend(ox + v0 + r, oy - 1 - (u0 + k), c, a);
        else
          blend(ox + u0 + k, oy + v0 + r, c, a);
      }
    pen += g.advance;
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
