// Grids of small labelled tiles (activation channels, filters, kernels) with a title line: the
// layout is computed once so tests can find every tile's pixels.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/image.hpp"

namespace cnn::viz {

struct GridLayout {
  std::size_t cols = 0, rows = 0;
  std::size_t tile_w = 0, tile_h = 0;  // one tile as drawn (source size x scale)
  std::size_t scale = 1;               // nearest-neighbour enlargement of every tile
  std::size_t gap = 0;                 // pixels between tiles
  std::size_t label_h = 0;             // the label band under each tile
  std::size_t top = 0;                 // the title band
  std::size_t width = 0, height = 0;   // the whole picture
  // Top-left pixel of tile k (row-major).
  std::size_t x(std::size_t k) const { return gap + (k % cols) * (tile_w + gap); }
  std::size_t y(std::size_t k) const { return top + (k / cols) * (tile_h + label_h + gap); }
};

// Lays out n tiles of tile_w x tile_h source pixels in cols columns (fewer when n is smaller).
// scale is the smallest integer making the longer side at least min_side pixels (1 for tiles
// already that large). Labels (10-pixel text) need a band; a title needs the top band.
GridLayout grid_layout(std::size_t n, std::size_t tile_w, std::size_t tile_h, std::size_t cols,
                       std::size_t min_side, bool labels, bool title);

// Draws tiles (each tile_w x tile_h, 1 or 3 channels) on white with labels[k] under tile k
// (clipped to the tile width) and the title above, per layout.
io::Image render_grid(const GridLayout& layout, const std::vector<io::Image>& tiles,
                      const std::vector<std::string>& labels, const std::string& title);

// Stacks pictures vertically (left-aligned, white background), for several layers in one PNG.
io::Image stack_vertically(const std::vector<io::Image>& parts, std::size_t gap = 8);

}  // namespace cnn::viz
