// Filter banks (see filterbank.hpp).
#include "viz/filterbank.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "io/atomic_file.hpp"
#include "tensor/error.hpp"
#include "viz/canvas.hpp"

namespace cnn::viz {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr float kLabelSize = 12;  // font size of the labels, pixels

std::vector<Kernel2D> edge_pair(const std::string& name, float mid) {
  Kernel2D x{name + " x", 3, 3, {-1, 0, 1, -mid, 0, mid, -1, 0, 1}, {}};
  Kernel2D y{name + " y", 3, 3, {-1, -mid, -1, 0, 0, 0, 1, mid, 1}, {}};
  Kernel2D m{name + " magnitude", 0, 0, {}, {0, 1}};
  return {x, y, m};
}

// Grey bytes of values min-max normalised (constant: black).
io::Image grey(const std::vector<float>& v, std::size_t h, std::size_t w) {
  io::Image img(h, w, 1);
  if (v.empty()) return img;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const float scale = *hi > *lo ? 255.0f / (*hi - *lo) : 0.0f;
  for (std::size_t i = 0; i < v.size(); ++i)
    img.data[i] = static_cast<std::uint8_t>(std::lround((v[i] - *lo) * scale));
  return img;
}

}  // namespace

std::vector<Kernel2D> sobel_kernels() { return edge_pair("sobel", 2); }
std::vector<Kernel2D> prewitt_kernels() { return edge_pair("prewitt", 1); }

std::vector<Kernel2D> haar_kernels(std::size_t n) {
  n = std::max<std::size_t>(2, n + (n % 2));
  auto make = [&](const std::string& name, auto sign) {
    Kernel2D k{name, n, n, std::vector<float>(n * n), {}};
    float pos = 0, neg = 0;
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) (sign(y, x) > 0 ? pos : neg) += 1;
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x)
        k.k[y * n + x] = sign(y, x) > 0 ? 1.0f / pos : -1.0f / neg;
    return k;
  };
  const std::size_t h = n / 2;
  return {make("haar left-right", [&](std::size_t, std::size_t x) { return x < h ? 1 : -1; }),
          make("haar top-bottom", [&](std::size_t y, std::size_t) { return y < h ? 1 : -1; }),
          make("haar line",
               [&](std::size_t, std::size_t x) { return x >= n / 4 && x < n - n / 4 ? 1 : -1; }),
          make("haar diagonal",
               [&](std::size_t y, std::size_t x) { return (y < h) == (x < h) ? 1 : -1; })};
}

double gabor_default_sigma(double f) {
  const double b = 1.0;
  return std::sqrt(std::log(2.0) / 2.0) / kPi * (std::pow(2.0, b) + 1) / (std::pow(2.0, b) - 1) / f;
}

std::vector<Kernel2D> gabor_kernels(double f, double sigma, const std::vector<double>& thetas) {
  std::vector<Kernel2D> out;
  for (double th : thetas) {
    const double ct = std::cos(th), st = std::sin(th);
    const long x0 = static_cast<long>(
        std::ceil(std::max({std::abs(3 * sigma * ct), std::abs(3 * sigma * st), 1.0})));
    const long y0 = static_cast<long>(
        std::ceil(std::max({std::abs(3 * sigma * st), std::abs(3 * sigma * ct), 1.0})));
    Kernel2D k;
    char name[64];
    std::snprintf(name, sizeof name, "gabor f=%.3g theta=%.0f", f, th * 180.0 / kPi);
    k.name = name;
    k.h = static_cast<std::size_t>(2 * y0 + 1);
    k.w = static_cast<std::size_t>(2 * x0 + 1);
    for (long y = -y0; y <= y0; ++y)
      for (long x = -x0; x <= x0; ++x) {
        const double rx = x * ct + y * st, ry = -x * st + y * ct;
        const double g =
            std::exp(-0.5 * (rx * rx + ry * ry) / (sigma * sigma)) / (2 * kPi * sigma * sigma);
        k.k.push_back(static_cast<float>(g * std::cos(2 * kPi * f * rx)));
      }
    out.push_back(std::move(k));
  }
  return out;
}

Kernel2D read_kernel_file(const std::string& path) {
  std::istringstream in(io::read_file(path));
  Kernel2D k;
  k.name = path;
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream ls(line);
    std::vector<float> row;
    for (std::string tok; ls >> tok;) {
      char* end = nullptr;
      const float v = std::strtof(tok.c_str(), &end);
      if (end == tok.c_str() || *end != '\0' || !std::isfinite(v))
        throw FormatError(path + ":" + std::to_string(line_no), std::nullopt,
                          "expected a number, got '" + tok + "'");
      row.push_back(v);
    }
    if (row.empty()) continue;
    if (k.h > 0 && row.size() != k.w)
      throw FormatError(path + ":" + std::to_string(line_no), std::nullopt,
                        "expected " + std::to_string(k.w) + " numbers like the first row, got " +
                            std::to_string(row.size()));
    k.w = row.size();
    ++k.h;
    k.k.insert(k.k.end(), row.begin(), row.end());
  }
  if (k.h == 0) throw FormatError(path, std::nullopt, "expected rows of numbers, found none");
  return k;
}

std::vector<float> correlate(const std::vector<float>& img, std::size_t h, std::size_t w,
                             const Kernel2D& k) {
  std::vector<float> out(h * w, 0.0f);
  const long cy = static_cast<long>((k.h - 1) / 2), cx = static_cast<long>((k.w - 1) / 2);
  const long H = static_cast<long>(h), W = static_cast<long>(w);
  for (long y = 0; y < H; ++y)
    for (long x = 0; x < W; ++x) {
      double s = 0;
      for (long i = 0; i < static_cast<long>(k.h); ++i) {
        const long sy = std::clamp(y + i - cy, 0L, H - 1);
        for (long j = 0; j < static_cast<long>(k.w); ++j) {
          const long sx = std::clamp(x + j - cx, 0L, W - 1);
          s += static_cast<double>(
                   k.k[static_cast<std::size_t>(i) * k.w + static_cast<std::size_t>(j)]) *
               img[static_cast<std::size_t>(sy * W + sx)];
        }
      }
      out[static_cast<std::size_t>(y * W + x)] = static_cast<float>(s);
    }
  return out;
}

std::vector<std::vector<float>> apply_bank(const std::vector<float>& img, std::size_t h,
                                           std::size_t w, const std::vector<Kernel2D>& bank) {
  std::vector<std::vector<float>> out;
  for (const auto& k : bank) {
    if (k.of.size() == 2) {
      const auto& a = out.at(k.of[0]);
      const auto& b = out.at(k.of[1]);
      std::vector<float> m(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) m[i] = std::sqrt(a[i] * a[i] + b[i] * b[i]);
      out.push_back(std::move(m));
    } else {
      out.push_back(correlate(img, h, w, k));
    }
  }
  return out;
}

FilterbankLayout filterbank_layout(std::size_t h, std::size_t w, std::size_t n, std::size_t cols) {
  using L = FilterbankLayout;
  L g;
  g.scale = std::max<std::size_t>(
      1, (L::kMinSide + std::max({h, w, std::size_t{1}}) - 1) / std::max({h, w, std::size_t{1}}));
  g.image_w = w * g.scale;
  g.image_h = h * g.scale;
  g.label_h = static_cast<std::size_t>(std::ceil(Canvas::text_height(kLabelSize))) + 6;
  g.cell_w = L::kKernelBox + L::kGap + g.image_w;
  g.cell_h = g.label_h + std::max(L::kKernelBox, g.image_h);
  if (cols == 0)
    cols = std::min<std::size_t>(4, std::max<std::size_t>(1, 1600 / (g.cell_w + L::kGap)));
  g.cols = std::max<std::size_t>(1, std::min(cols, n));
  g.rows = (n + g.cols - 1) / g.cols;
  g.input_x = L::kGap;
  g.input_y = L::kGap + g.label_h;
  g.grid_y = g.input_y + g.image_h + 2 * L::kGap;
  g.width = std::max(L::kGap + g.cols * (g.cell_w + L::kGap), 2 * L::kGap + g.image_w);
  g.height = g.grid_y + g.rows * (g.cell_h + L::kGap);
  return g;
}

io::Image filterbank_picture(const io::Image& gray, const std::vector<Kernel2D>& bank,
                             const std::vector<std::vector<float>>& responses, std::size_t cols) {
  using L = FilterbankLayout;
  const L g = filterbank_layout(gray.h, gray.w, bank.size(), cols);
  Canvas cv(g.width, g.height);
  const Rgb ink{0, 0, 0}, frame{128, 128, 128};
  const float pad = (static_cast<float>(g.label_h) - Canvas::text_height(kLabelSize)) / 2;
  std::string input_label = "input " + std::to_string(gray.w) + "x" + std::to_string(gray.h);
  if (g.scale > 1) input_label += ", enlarged " + std::to_string(g.scale) + "x";
  cv.text(static_cast<float>(g.input_x), static_cast<float>(g.input_y - g.label_h) + pad,
          input_label, ink, kLabelSize);
  cv.paste(gray, static_cast<long>(g.input_x), static_cast<long>(g.input_y), g.scale);
  for (std::size_t i = 0; i < bank.size(); ++i) {
    const Kernel2D& k = bank[i];
    const long x = static_cast<long>(g.cell_x(i)), y = static_cast<long>(g.response_y(i));
    cv.text(static_cast<float>(x), static_cast<float>(g.cell_y(i)) + pad, k.name, ink, kLabelSize);
    if (k.h > 0) {
      const std::size_t ks = std::max<std::size_t>(1, L::kKernelBox / std::max(k.h, k.w));
      const long kx = x + static_cast<long>(L::kKernelBox - k.w * ks) / 2;
      cv.paste(grey(k.k, k.h, k.w), kx, y, ks);
      cv.stroke_rect(kx - 1, y - 1, static_cast<long>(k.w * ks) + 2,
                     static_cast<long>(k.h * ks) + 2, frame);
    } else {
      cv.text(static_cast<float>(x), static_cast<float>(y) + 4, "\u221A(x\u00B2 + y\u00B2)",
              {80, 80, 80}, kLabelSize);
    }
    cv.paste(grey(responses.at(i), gray.h, gray.w), static_cast<long>(g.response_x(i)), y, g.scale);
  }
  return cv.image();
}

}  // namespace cnn::viz
