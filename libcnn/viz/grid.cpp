// Tile grids (see grid.hpp).
#include "viz/grid.hpp"

#include <algorithm>
#include <cmath>

#include "viz/canvas.hpp"

namespace cnn::viz {
namespace {

constexpr float kLabelSize = 10, kTitleSize = 15;  // font sizes, pixels

}  // namespace

GridLayout grid_layout(std::size_t n, std::size_t tile_w, std::size_t tile_h, std::size_t cols,
                       std::size_t min_side, bool labels, bool title) {
  GridLayout g;
  g.cols = std::max<std::size_t>(1, std::min(cols, n));
  g.rows = n == 0 ? 0 : (n + g.cols - 1) / g.cols;
  const std::size_t side = std::max<std::size_t>(1, std::max(tile_w, tile_h));
  g.scale = std::max<std::size_t>(1, (min_side + side - 1) / side);
  g.tile_w = tile_w * g.scale;
  g.tile_h = tile_h * g.scale;
  g.gap = 2;
  g.label_h = labels ? static_cast<std::size_t>(std::ceil(Canvas::text_height(kLabelSize))) + 3 : 0;
  g.top = title ? static_cast<std::size_t>(std::ceil(Canvas::text_height(kTitleSize))) + 10 : g.gap;
  g.width = g.gap + g.cols * (g.tile_w + g.gap);
  g.height = g.top + g.rows * (g.tile_h + g.label_h + g.gap);
  return g;
}

io::Image render_grid(const GridLayout& g, const std::vector<io::Image>& tiles,
                      const std::vector<std::string>& labels, const std::string& title) {
  const std::size_t title_w =
      title.empty()
          ? 0
          : static_cast<std::size_t>(std::ceil(Canvas::text_width(title, kTitleSize))) + 8;
  Canvas cv(std::max(g.width, title_w), std::max<std::size_t>(g.height, 1));
  if (!title.empty()) cv.text(4, 5, title, {0, 0, 0}, kTitleSize);
  for (std::size_t k = 0; k < tiles.size(); ++k) {
    cv.paste(tiles[k], static_cast<long>(g.x(k)), static_cast<long>(g.y(k)), g.scale);
    if (g.label_h && k < labels.size()) {
      // Clipped to the tile: characters dropped from the end until the label fits.
      std::string label = labels[k];
      while (label.size() > 1 &&
             Canvas::text_width(label, kLabelSize) > static_cast<float>(g.tile_w)) {
        unsigned char last;  // one UTF-8 character: continuation bytes, then the lead byte
        do {
          last = static_cast<unsigned char>(label.back());
          label.pop_back();
        } while (label.size() > 1 && (last & 0xC0) == 0x80);
      }
      cv.text(static_cast<float>(g.x(k)), static_cast<float>(g.y(k) + g.tile_h + 2), label,
              {60, 60, 60}, kLabelSize);
    }
  }
  return cv.image();
}

io::Image stack_vertically(const std::vector<io::Image>& parts, std::size_t gap) {
  std::size_t w = 1, h = 0;
  for (const auto& p : parts) {
    w = std::max(w, p.w);
    h += p.h + gap;
  }
  Canvas cv(w, std::max<std::size_t>(h, 1));
  std::size_t y = 0;
  for (const auto& p : parts) {
    cv.paste(p, 0, static_cast<long>(y));
    y += p.h + gap;
  }
  return cv.image();
}

}  // namespace cnn::viz
