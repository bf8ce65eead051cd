// Learning curves: the lecture's smoothing; SVG with raw and smoothed polylines of the right
// lengths, markers, fixed or fluid sizing; PNG rasterisation; anti-aliased text; bad histories;
// outputs all-or-nothing.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>

#include "io/temp_dir.hpp"
#include "tensor/error.hpp"
#include "viz/canvas.hpp"
#include "viz/curves.hpp"
#include "viz/source.hpp"

using namespace cnn;
using namespace cnn::viz;

namespace {

void write_history(const std::string& path, std::size_t epochs, bool validation) {
  std::ofstream f(path);
  f << "[";
  for (std::size_t e = 1; e <= epochs; ++e) {
    f << (e > 1 ? "," : "") << "{\"epoch\": " << e << ", \"loss\": " << 1.0 / static_cast<double>(e)
      << ", \"accuracy\": " << 0.5 + 0.05 * static_cast<double>(e);
    if (validation)
      f << ", \"val_loss\": " << 1.2 / static_cast<double>(e) << ", \"val_accuracy\": 0.6";
    f << ", \"lr\": 0.001}";
  }
  f << "]";
}

// The polylines of an SVG with the given class: their point counts.
std::vector<std::size_t> polylines(const std::string& svg, const std::string& cls) {
  std::vector<std::size_t> out;
  const std::regex re("<polyline class=\"" + cls + "\"[^>]* points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it) {
    const std::string pts = (*it)[1];
    out.push_back(static_cast<std::size_t>(std::count(pts.begin(), pts.end(), ',')));
  }
  return out;
}

}  // namespace

TEST_CASE("viz: smooth_curve is the lecture's exponential moving average") {
  const auto s = smooth_curve({1, 2, 3, 3}, 0.8);
  REQUIRE(s.size() == 4);
  CHECK(s[0] == doctest::Approx(1.0));
  CHECK(s[1] == doctest::Approx(1.2));
  CHECK(s[2] == doctest::Approx(1.56));
  CHECK(s[3] == doctest::Approx(1.848));
  CHECK(smooth_curve({4, 5}, 0.0) == std::vector<double>{4, 5});
  CHECK(smooth_curve({}, 0.5).empty());
}

TEST_CASE("viz: nice ticks") {
  CHECK(nice_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0});
  const auto t = nice_ticks(0.13, 0.87, 5);
  CHECK(t.front() == doctest::Approx(0.2));
  CHECK(t.back() == doctest::Approx(0.8));
  CHECK(nice_ticks(1, 10, 8).size() >= 5);
}

TEST_CASE("viz: curves draw raw and smoothed series, training and validation, runs overlaid") {
  cnn::test::TempDir dir;
  std::filesystem::create_directory(dir.file("a"));
  std::filesystem::create_directory(dir.file("b"));
  write_history(dir.file("a/history.json"), 7, true);
  write_history(dir.file("b/history.json"), 5, false);
  const auto series = load_series({dir.file("a"), dir.file("b/history.json")}, {});
  // a: loss/accuracy x training/validation; b: training only.
  CHECK(series.size() == 6);
  const std::string smoothed = render_svg(curves_figure(series, {0.8}));
  // Per metric: a-training (7), a-validation (7), b-training (5).
  CHECK(polylines(smoothed, "raw") == std::vector<std::size_t>{7, 7, 5, 7, 7, 5});
  CHECK(polylines(smoothed, "smoothed") == std::vector<std::size_t>{7, 7, 5, 7, 7, 5});
  CHECK(smoothed.find("data-run=\"a\"") != std::string::npos);
  CHECK(smoothed.find("data-split=\"validation\"") != std::string::npos);
  CHECK(smoothed.find(">epoch<") != std::string::npos);
  CHECK(smoothed.find(">a: training<") != std::string::npos);  // the legend
  const std::string raw = render_svg(curves_figure(series, {0.0}));
  CHECK(polylines(raw, "raw").size() == 6);
  CHECK(polylines(raw, "smoothed").empty());

  // The PNG: two 560 x 400 panels with run a's lines in tab10's first colour.
  const io::Image png = render_png(curves_figure(series, {0.8}));
  CHECK(png.w == 1120);
  CHECK(png.h == 400);
  std::size_t blue = 0;  // tab10's first colour: run a
  for (std::size_t p = 0; p < png.w * png.h; ++p)
    if (png.data[3 * p] == 31 && png.data[3 * p + 1] == 119 && png.data[3 * p + 2] == 180) ++blue;
  CHECK(blue > 100);
}

TEST_CASE("viz: bad histories are named") {
  cnn::test::TempDir dir;
  write_history(dir.file("h.json"), 3, false);
  CHECK_THROWS_WITH_AS(load_series({dir.file("h.json")}, {"top_k_accuracy"}),
                       doctest::Contains("top_k_accuracy"), DataError);
  {
    std::ofstream f(dir.file("bad.json"));
    f << "{\"loss\": 1}";
  }
  CHECK_THROWS_WITH_AS(load_series({dir.file("bad.json")}, {}), doctest::Contains("bad.json"),
                       FormatError);
  CHECK_THROWS_AS(load_series({dir.file("none")}, {}), InputError);
}

TEST_CASE("viz: outputs are written all or nothing") {
  cnn::test::TempDir dir;
  {
    Outputs out;
    out.prepare_dir(dir.file("made"));
    out.add(dir.file("made/a.txt"), std::string("a"));
    out.add(dir.file("missing/b.txt"), std::string("b"));
    CHECK_THROWS_AS(out.commit(), IoError);
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("made/a.txt")));
  CHECK_FALSE(std::filesystem::exists(dir.file("made")));
  CHECK_THROWS_AS(Outputs::check_file(dir.file("missing/c.png")), IoError);
  Outputs ok;
  ok.add(dir.file("c.txt"), std::string("c"));
  CHECK(ok.commit() == std::vector<std::string>{dir.file("c.txt")});
}

TEST_CASE("viz: a one-epoch series shows as markers, validation squares only on short series") {
  cnn::test::TempDir dir;
  std::filesystem::create_directory(dir.file("one"));
  write_history(dir.file("one/history.json"), 1, true);
  const std::string svg = render_svg(curves_figure(load_series({dir.file("one")}, {}), {0.8}));
  const std::regex val("<rect class=\"marker\"[^>]*data-split=\"validation\"");
  const std::regex train("<circle class=\"marker\"[^>]*data-split=\"training\"");
  auto count = [](const std::string& s, const std::regex& re) {
    return static_cast<std::size_t>(
        std::distance(std::sregex_iterator(s.begin(), s.end(), re), std::sregex_iterator()));
  };
  CHECK(count(svg, val) == 2);  // one per metric
  CHECK(count(svg, train) == 2);
  // A single point has no line, so its marker is opaque even with smoothing.
  CHECK(svg.find("<rect class=\"marker\" data-metric=\"loss\" data-run=\"one\" "
                 "data-split=\"validation\" x=") != std::string::npos);
  CHECK(svg.find("fill-opacity=\"0.35\"/>") == std::string::npos);

  std::filesystem::create_directory(dir.file("long"));
  write_history(dir.file("long/history.json"), 50, true);
  const std::string long_svg =
      render_svg(curves_figure(load_series({dir.file("long")}, {}), {0.0}));
  CHECK(count(long_svg, val) == 0);
  CHECK(count(long_svg, train) == 100);
}

TEST_CASE("viz: SVG figures are fixed-size files or fluid for a page") {
  Figure f;
  f.width = 300;
  f.height = 200;
  f.texts.push_back({10, 10, "Loss", 13, {0, 0, 0}});
  const std::string fixed = render_svg(f);
  CHECK(fixed.find("width=\"300.00\" height=\"200.00\" viewBox=\"0 0 300.00 200.00\"") !=
        std::string::npos);
  const std::string fluid = render_svg(f, SvgSize::fluid);
  CHECK(fluid.find("width=\"100%\" style=\"max-width:300.00px;height:auto\" viewBox=\"0 0 300.00 "
                   "200.00\"") != std::string::npos);
  CHECK(fluid.find("height=\"200.00\"") == std::string::npos);
  // The font is named; the baseline lies one cap height (0.729 em) below the anchor.
  CHECK(fluid.find("font-family=\"DejaVu Sans, sans-serif\" font-size=\"13.00\"") !=
        std::string::npos);
  CHECK(fluid.find("y=\"19.48\">Loss</text>") != std::string::npos);
}

TEST_CASE("viz: figure text is anti-aliased DejaVu Sans") {
  Canvas cv(240, 40);
  cv.text(4, 10, "Epoch 12: val_loss", {0, 0, 0}, 13);
  // Anti-aliasing: many grey levels between ink and paper (a bitmap font has two).
  std::set<int> levels;
  std::size_t inked = 0;
  for (std::size_t y = 0; y < cv.height(); ++y)
    for (std::size_t x = 0; x < cv.width(); ++x) {
      levels.insert(cv.pixel(x, y).r);
      inked += cv.pixel(x, y).r < 128;
    }
  CHECK(levels.size() > 16);
  CHECK(inked > 60);
  // The ink sits between the cap line and the descender line ("p" descends).
  for (std::size_t x = 0; x < cv.width(); ++x) {
    CHECK(cv.pixel(x, 7).r == 255);
    CHECK(cv.pixel(x, 25).r == 255);
  }
  // A proportional font: "i" is narrower than "M"; widths are about DejaVu's advances.
  CHECK(Canvas::text_width("iiii", 13) < Canvas::text_width("MMMM", 13) / 2);
  CHECK(Canvas::text_width("M", 100) == doctest::Approx(86.3).epsilon(0.03));
  // Vertical text is the same glyphs turned: as tall as the horizontal text is wide.
  Canvas v(40, 240);
  v.text_vertical(10, 230, "Epoch 12: val_loss", {0, 0, 0}, 13);
  std::size_t top = 240, vinked = 0;
  for (std::size_t y = 0; y < v.height(); ++y)
    for (std::size_t x = 0; x < v.width(); ++x)
      if (v.pixel(x, y).r < 128) top = std::min(top, y), ++vinked;
  CHECK(vinked == inked);
  CHECK(230 - top == doctest::Approx(Canvas::text_width("Epoch 12: val_loss", 13)).epsilon(0.05));
  CHECK_NOTHROW(require_font());
}
