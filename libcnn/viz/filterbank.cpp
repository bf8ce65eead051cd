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
      for (std::size_t x = 0; x < n; ++x) k.k[y * n + x] = sign(y, x) > 0 ? 1.0f / pos : -1.0f / neg;
    return k;
  };
  const std::size_t h = n / 2;
  return {make("haar left-right", [&](std::size_t, std::size_t x) { return x < h ? 1 : -1; }),
          make("haar top-bottom", [&](std::size_t y, std::size_t) { return y < h ? 1 : -1; }),
          make("haar line", [&](std::size_t, std::size_t x) { return x >= n / 4 && x < n - n / 4 ? 1 : -1; }),
          make("haar diagonal", [&](std::size_t y, std::size_t x) { return (y < h) == (x < h) ? 1 : -1; })};
}

double gabor_default_sigma(double f) {
  const double b = 1.0;
  return std::sqrt(std::log(2.0) / 2.0) / kPi * (std::pow(2.0, b) + 1) / (std::pow(2.0, b) - 1) / f;
}

std::vector<Kernel2D> gabor_kernels(double f, double sigma, const std::vector<double>& thetas) {
  std::vector<Kernel2D> out;
  for (double th : thetas) {
    const double ct = std::cos(th), st = std::sin(th);
    const long x0 = static_cast<long>(std::ceil(std::max({std::abs(3 * sigma * ct), std::abs(3 * sigma * st), 1.0})));
    const long y0 = static_cast<long>(std::ceil(std::max({std::abs(3 * sigma * st), std::abs(3 * sigma * ct), 1.0})));
    Kernel2D k;
    char name[64];
    std::snprintf(name, sizeof name, "gabor f=%.3g theta=%.0f", f, th * 180.0 / kPi);
    k.name = name;
    k.h = static_cast<std::size_t>(2 * y0 + 1);
    k.w = static_cast<std::size_t>(2 * x0 + 1);
    for (long y = -y0; y <= y0; ++y)
      for (long x = -x0; x <= x0; ++x) {
        const double rx = x * ct + y * st, ry = -x * st + y * ct;
        const double g = std::exp(-0.5 * (rx * rx + ry * ry) / (sigma * sigma)) / (2 * kPi * sigma * sigma);
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

std::vector<float> correlate(const std::vector<float>& img, std::size_t h, std::size_t w, const Kernel2D& k) {
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
          s += static_cast<double>(k.k[static_cast<std::size_t>(i) * k.w + static_cast<std::size_t>(j)]) *
               img[static_cast<std::size_t>(sy * W + sx)];
        }
      }
      out[static_cast<std::size_t>(y * W + x)] = static_cast<float>(s);
    }
  return out;
}

std::vector<std::vector<float>> apply_bank(const std::vector<float>& img, std::size_t h, std::size_t w,
                                           const std::vector<Kernel2D>& bank) {
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

io::Image filterbank_picture(const io::Image& gray, const std::vector<Kernel2D>& bank,
                             const std::vector<std::vector<float>>& responses) {
  const long gap = 8, label = 14, ktile = 96;
  const long iw = static_cast<long>(gray.w), ih = static_cast<long>(gray.h);
  long name_w = 0;
  for (const auto& k : bank) name_w = std::max(name_w, Canvas::text_width(k.name));
  const long width = gap + std::max(ktile, name_w) + gap + iw + gap;
  const long height = gap + label + ih + gap + static_cast<long>(bank.size()) * (label + std::max(ktile, ih) + gap);
  Canvas cv(static_cast<std::size_t>(width), static_cast<std::size_t>(height));
  const Rgb ink{0, 0, 0};
  long y = gap;
  cv.text(gap, y, "input", ink);
  cv.paste(gray, gap + std::max(ktile, name_w) + gap, y + label);
  y += label + ih + gap;
  for (std::size_t i = 0; i < bank.size(); ++i) {
    const Kernel2D& k = bank[i];
    cv.text(gap, y, k.name, ink);
    if (k.h > 0) {
      const std::size_t scale = std::max<std::size_t>(1, static_cast<std::size_t>(ktile) / std::max(k.h, k.w));
      const io::Image kt = grey(k.k, k.h, k.w);
      cv.paste(kt, gap, y + label, scale);
      cv.stroke_rect(gap - 1, y + label - 1, static_cast<long>(k.w * scale) + 2, static_cast<long>(k.h * scale) + 2, {128, 128, 128});
    } else {
      cv.text(gap, y + label + 4, "sqrt(x^2 + y^2)", {80, 80, 80});
    }
    cv.paste(grey(responses.at(i), gray.h, gray.w), gap + std::max(ktile, name_w) + gap, y + label);
    y += label + std::max(ktile, ih) + gap;
  }
  return cv.image();
}

}  // namespace cnn::viz
