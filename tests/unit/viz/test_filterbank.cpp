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
  CHECK_THROWS_WITH_AS(read_kernel_file(dir.file("bad.txt")), doctest::Contains("bad.txt:2"), FormatError);
  {
    std::ofstream f(dir.file("ragged.txt"));
    f << "1 2\n3\n";
  }
  CHECK_THROWS_AS(read_kernel_file(dir.file("ragged.txt")), FormatError);
  CHECK_THROWS_AS(read_kernel_file(dir.file("missing.txt")), InputError);
}
