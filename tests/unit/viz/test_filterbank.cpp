// Filter banks: a Sobel response of a step edge is where the edge is; kernel shapes and files.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "io/temp_dir.hpp"
#include "tensor/error.hpp"
#include "viz/filterbank.hpp"

using namespace cnn;
using namespace cnn::viz;

TEST_CASE("viz: the Sobel response of a step edge is at the edge") {
  // 9 x 12, dark left (columns 0..5), bright right (6..11): a vertical edge between 5 and 6.
  const std::size_t h = 9, w = 12;
  std::vector<float> img(h * w);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) img[y * w + x] = x < 6 ? 0.0f : 255.0f;
  const auto bank = sobel_kernels();
  REQUIRE(bank.size() == 3);
  const auto r = apply_bank(img, h, w, bank);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const float gx = r[0][y * w + x], gy = r[1][y * w + x], mag = r[2][y * w + x];
      if (x == 5 || x == 6) {
        CHECK(gx == doctest::Approx(4 * 255.0));  // (1 + 2 + 1) * 255, dark to bright
        CHECK(mag == doctest::Approx(4 * 255.0));
      } else {
        CHECK(gx == 0.0f);
        CHECK(mag == 0.0f);
      }
      CHECK(gy == 0.0f);  // no horizontal edge
    }
  // The transposed image puts the response in the y kernel, at rows 5 and 6.
  std::vector<float> t(w * h);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) t[x * h + y] = img[y * w + x];
  const auto rt = apply_bank(t, w, h, bank);
  for (std::size_t y = 0; y < w; ++y)
    CHECK(rt[1][y * h + 4] == doctest::Approx(y == 5 || y == 6 ? 4 * 255.0 : 0.0));
}

TEST_CASE("viz: Haar, Gabor and Prewitt kernels") {
  for (const auto& k : haar_kernels(8)) {
    CHECK(k.h == 8);
    double sum = 0, pos = 0;
    for (float v : k.k) sum += v, pos += v > 0 ? v : 0;
    CHECK(sum == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(pos == doctest::Approx(1.0));
  }
  CHECK(prewitt_kernels()[0].k == std::vector<float>{-1, 0, 1, -1, 0, 1, -1, 0, 1});
  const double pi = 3.14159265358979323846;
  const auto g = gabor_kernels(0.25, 2.0, {0.0, pi / 2});
  REQUIRE(g.size() == 2);
  CHECK(g[0].h == 13);  // half size ceil(3 sigma) = 6 on both axes: 2 * 6 + 1
  CHECK(g[0].w == 13);
  // theta = 0: the centre row peaks at the centre, cos(2 pi f x) is 0 at x = 1 (f = 0.25).
  const std::size_t c = 6 * g[0].w + 6;
  CHECK(g[0].k[c] == doctest::Approx(1.0 / (2 * pi * 4.0)));
  CHECK(std::abs(g[0].k[c + 1]) < 1e-7);
  CHECK(g[0].k[c + 2] < 0);
  CHECK(gabor_default_sigma(0.1) == doctest::Approx(5.6).epsilon(0.01));
}

TEST_CASE("viz: kernel files") {
  cnn::test::TempDir dir;
  {
    std::ofstream f(dir.file("k.txt"));
    f << "# a vertical line detector\n-1, 2, -1\n-1 2 -1\n\n-1 2 -1  # last row\n";
  }
  const Kernel2D k = read_kernel_file(dir.file("k.txt"));
  CHECK(k.h == 3);
  CHECK(k.w == 3);
  CHECK(k.k[1] == 2.0f);
  {
    std::ofstream f(dir.file("bad.txt"));
    f << "1 2\n3 x\n";
  }
  CHECK_THROWS_WITH_AS(read_kernel_file(dir.file("bad.txt")), doctest::Contains("bad.txt:2"),
                       FormatError);
  {
    std::ofstream f(dir.file("ragged.txt"));
    f << "1 2\n3\n";
  }
  CHECK_THROWS_AS(read_kernel_file(dir.file("ragged.txt")), FormatError);
  CHECK_THROWS_AS(read_kernel_file(dir.file("missing.txt")), InputError);
}

TEST_CASE("viz: filter bank pictures are a grid of --cols columns with small inputs enlarged") {
  using L = FilterbankLayout;
  // A 28 x 28 image (Fashion-MNIST size) is enlarged 7x, to 196 pixels, the smallest whole
  // factor reaching 192; 8 kernels in 4 columns take 2 rows.
  const L g = filterbank_layout(28, 28, 8, 4);
  CHECK(g.scale == 7);
  CHECK(g.image_w == 196);
  CHECK(g.cols == 4);
  CHECK(g.rows == 2);
  CHECK(g.width == L::kGap + 4 * (g.cell_w + L::kGap));
  CHECK(g.cell_y(4) > g.cell_y(3));
  CHECK(g.cell_x(4) == g.cell_x(0));
  // Defaults: at most 4 columns, at most the number of kernels, and what fits in 1600 pixels.
  CHECK(filterbank_layout(28, 28, 3).cols == 3);
  CHECK(filterbank_layout(28, 28, 8).cols == 4);
  CHECK(filterbank_layout(600, 500, 8).cols == 2);
  CHECK(filterbank_layout(600, 500, 8).scale == 1);
  CHECK(filterbank_layout(28, 28, 2, 9).cols == 2);

  // Each response is drawn at its cell, enlarged: a vertical edge's Sobel x response.
  io::Image img(28, 28, 1);
  for (std::size_t y = 0; y < 28; ++y)
    for (std::size_t x = 0; x < 28; ++x) img.at(y, x, 0) = x < 14 ? 0 : 255;
  const std::vector<float> px(img.data.begin(), img.data.end());
  const auto bank = sobel_kernels();
  const auto r = apply_bank(px, 28, 28, bank);
  const io::Image pic = filterbank_picture(img, bank, r, 2);
  const L l = filterbank_layout(28, 28, 3, 2);
  REQUIRE(pic.w == l.width);
  REQUIRE(pic.h == l.height);
  // Kernel 0 (sobel x) responds at columns 13 and 14 (white) and nowhere else (black); kernel 2
  // (the magnitude) is in the second row, first column.
  for (std::size_t k : {0, 2}) {
    const std::size_t x0 = l.response_x(k), y0 = l.response_y(k);
    CHECK(pic.at(y0 + 3 * 7, x0 + 13 * 7 + 3, 0) == 255);
    CHECK(pic.at(y0 + 3 * 7, x0 + 5 * 7 + 3, 0) == 0);
    CHECK(pic.at(y0 + 20 * 7 + 6, x0 + 14 * 7, 0) == 255);
  }
  CHECK(l.response_y(2) > l.response_y(1));
  CHECK(l.response_x(2) == l.response_x(0));
}
