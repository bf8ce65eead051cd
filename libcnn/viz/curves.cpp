// Learning curves (see curves.hpp).
#include "viz/curves.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.hpp"
#include "tensor/config.hpp"
#include "tensor/error.hpp"

namespace cnn::viz {
namespace fs = std::filesystem;

std::vector<double> smooth_curve(const std::vector<double>& points, double factor) {
  std::vector<double> s;
  s.reserve(points.size());
  for (double p : points) s.push_back(s.empty() ? p : s.back() * factor + p * (1 - factor));
  return s;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::vector<Series> load_series(const std::vector<std::string>& runs,
                                std::vector<std::string> metrics) {
  using nlohmann::json;
  struct Run {
    std::string name, path;
    json rows;
  };
  std::vector<Run> loaded;
  for (const auto& r : runs) {
    Run run;
    run.path = fs::is_directory(r) ? (fs::path(r) / "history.json").string() : r;
    fs::path folder = fs::is_directory(r) ? fs::path(r) : fs::path(r).parent_path();
    run.name = folder.lexically_normal().filename().string();
    if (run.name.empty())
      run.name = fs::absolute(folder).lexically_normal().parent_path().filename().string();
    if (run.name.empty()) run.name = r;
    run.rows = parse_json(io::read_file(run.path), run.path);
    if (!run.rows.is_array())
      throw FormatError(run.path, std::nullopt, "expected a list of epoch objects");
    for (const auto& row : run.rows)
      if (!row.is_object())
        throw FormatError(run.path, std::nullopt, "expected a list of epoch objects");
    loaded.push_back(std::move(run));
  }
  // Runs with the same folder name are told apart by their paths.
  for (auto& a : loaded)
    for (const auto& b : loaded)
      if (&a != &b && a.name == b.name) {
        for (auto& c : loaded) c.name = c.path;
        break;
      }
  auto has = [&](const std::string& key) {
    for (const auto& run : loaded)
      for (const auto& row : run.rows)
        if (row.contains(key) && row[key].is_number()) return true;
    return false;
  };
  if (metrics.empty()) {
    for (const char* m : {"loss", "accuracy"})
      if (has(m) || has(std::string("val_") + m)) metrics.push_back(m);
    if (metrics.empty())
      throw DataError(loaded.front().path, "has no 'loss' or 'accuracy' values to plot");
  }
  for (const auto& m : metrics)
    if (!has(m) && !has("val_" + m)) {
      std::string where;
      for (const auto& run : loaded) where += (where.empty() ? "" : ", ") + run.path;
      std::string keys;
      if (!loaded.front().rows.empty())
        for (auto it = loaded.front().rows[0].begin(); it != loaded.front().rows[0].end(); ++it)
          if (it->is_number() && it.key() != "epoch") keys += (keys.empty() ? "" : ", ") + it.key();
      throw DataError(where, "no epoch has the metric '" + m + "'; the history has " +
                                 (keys.empty() ? std::string("no metrics") : keys));
    }
  std::vector<Series> out;
  for (const auto& m : metrics)
    for (const auto& run : loaded)
      for (const char* split : {"training", "validation"}) {
        Series s{run.name, m, split, {}, {}};
        const std::string key = std::string(split) == "training" ? m : "val_" + m;
        for (std::size_t i = 0; i < run.rows.size(); ++i) {
          const json& row = run.rows[i];
          if (!row.contains(key) || !row[key].is_number()) continue;
          const double epoch = row.contains("epoch") && row["epoch"].is_number()
                                   ? row["epoch"].get<double>()
                                   : static_cast<double>(i + 1);
          s.epochs.push_back(epoch);
          s.values.push_back(row[key].get<double>());
        }
        if (!s.values.empty()) out.push_back(std::move(s));
      }
  return out;
}

namespace {

const Rgb kPalette[10] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                          {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                          {188, 189, 34},  {23, 190, 207}};
const Rgb kInk{0, 0, 0}, kGrid{225, 225, 225}, kAxis{64, 64, 64};
constexpr float kTickSize = 11, kLabelSize = 13, kTitleSize = 15;  // font sizes, pixels
constexpr std::size_t kMaxSquares = 40;

std::string tick_label(double v, double step) {
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

Figure curves_figure(const std::vector<Series>& series, const CurvesStyle& style) {
  std::vector<std::string> metrics, runs;
  for (const auto& s : series) {
    if (std::find(metrics.begin(), metrics.end(), s.metric) == metrics.end())
      metrics.push_back(s.metric);
    if (std::find(runs.begin(), runs.end(), s.run) == runs.end()) runs.push_back(s.run);
  }
  const float pw = 560, ph = 400;  // one panel
  const float ml = 70, mr = 16, mt = 40, mb = 48;
  Figure f;
  f.width = pw * static_cast<float>(std::max<std::size_t>(1, metrics.size()));
  f.height = ph;
  f.rects.push_back({0, 0, f.width, f.height, {255, 255, 255}});
  const bool smooth = style.smooth > 0;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const float ox = pw * static_cast<float>(m);
    const float x0 = ox + ml, x1 = ox + pw - mr, y0 = mt, y1 = ph - mb;  // plot area
    double elo = 1e300, ehi = -1e300, vlo = 1e300, vhi = -1e300;
    for (const auto& s : series) {
      if (s.metric != metrics[m]) continue;
      for (double e : s.epochs) elo = std::min(elo, e), ehi = std::max(ehi, e);
      for (double v : s.values) vlo = std::min(vlo, v), vhi = std::max(vhi, v);
    }
    if (ehi <= elo) elo -= 0.5, ehi += 0.5;
    if (vhi <= vlo) {
      const double d = std::max(0.5 * std::abs(vlo), 0.5);
      vlo -= d, vhi += d;
    } else {
      const double pad = 0.05 * (vhi - vlo);
      vlo -= pad, vhi += pad;
    }
    auto px = [&](double e) {
      return x0 + static_cast<float>((e - elo) / (ehi - elo)) * (x1 - x0);
    };
    auto py = [&](double v) {
      return y1 - static_cast<float>((v - vlo) / (vhi - vlo)) * (y1 - y0);
    };

    // Axes: grid lines, ticks and labels.
    f.rects.push_back({x0, y0, x1 - x0, y1 - y0, {255, 255, 255}, 1, true});
    std::vector<double> xt = nice_ticks(elo, ehi, 8);
    std::vector<double> kept;
    for (double t : xt)
      if (std::abs(t - std::round(t)) < 1e-9) kept.push_back(t);  // epochs are whole numbers
    if (!kept.empty()) xt = kept;
    const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
    for (double t : xt) {
      const float x = px(t);
      f.polys.push_back({{x, x}, {y0 + 1, y1 - 1}, 1, kGrid, 1, 0, "grid", {}});
      f.polys.push_back({{x, x}, {y1, y1 + 5}, 1, kAxis, 1, 0, "tick", {}});
      f.texts.push_back({x, y1 + 8, tick_label(t, xstep), kTickSize, kInk, Figure::Anchor::middle});
    }
    const std::vector<double> yt = nice_ticks(vlo, vhi, 6);
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
    for (double t : yt) {
      const float y = py(t);
      f.polys.push_back({{x0 + 1, x1 - 1}, {y, y}, 1, kGrid, 1, 0, "grid", {}});
      f.polys.push_back({{x0 - 5, x0}, {y, y}, 1, kAxis, 1, 0, "tick", {}});
      f.texts.push_back({x0 - 8, y - kCapHeight * kTickSize / 2, tick_label(t, ystep), kTickSize,
                         kInk, Figure::Anchor::end});
    }
    std::string title = metrics[m];
    if (smooth) {
      char buf[48];
      std::snprintf(buf, sizeof buf, " (smoothed %.2g)", style.smooth);
      title += buf;
    }
    f.texts.push_back({(x0 + x1) / 2, 12, title, kTitleSize, kInk, Figure::Anchor::middle});
    f.texts.push_back({(x0 + x1) / 2, ph - 22, "epoch", kLabelSize, kInk, Figure::Anchor::middle});
    f.texts.push_back(
        {ox + 8, (y0 + y1) / 2, metrics[m], kLabelSize, kInk, Figure::Anchor::middle, true});

    // Series: raw (faded when smoothed ones are drawn over them), then smoothed.
    struct Entry {
      std::string label;
      Rgb colour;
      bool training, markers;
    };
    std::vector<Entry> legend;
    for (const auto& s : series) {
      if (s.metric != metrics[m]) continue;
      const std::size_t r =
          static_cast<std::size_t>(std::find(runs.begin(), runs.end(), s.run) - runs.begin());
      const Rgb c = kPalette[r % 10];
      const bool training = s.split == "training";
      std::vector<float> xs, ys;
      for (std::size_t i = 0; i < s.values.size(); ++i) {
        xs.push_back(px(s.epochs[i]));
        ys.push_back(py(s.values[i]));
      }
      const std::map<std::string, std::string> data{
          {"run", s.run}, {"metric", s.metric}, {"split", s.split}};
      const float raw_alpha = smooth ? 0.35f : 1.0f;
      f.polys.push_back(
          {xs, ys, smooth ? 1.0f : 2.0f, c, raw_alpha, training ? 6.0f : 0.0f, "raw", data});
      // Markers at the data points: a dot per epoch on training series, a square on validation
      // series of up to kMaxSquares points (a longer solid line reads well without them). A
      // single point has no line at all, so its marker is drawn opaque even when faded.
      const bool markers = training || xs.size() <= kMaxSquares;
      const float marker_alpha = xs.size() == 1 ? 1.0f : raw_alpha;
      for (std::size_t i = 0; markers && i < xs.size(); ++i)
        if (training)
          f.discs.push_back({xs[i], ys[i], 3.0f, c, marker_alpha, false, "marker", data});
        else
          f.rects.push_back(
              {xs[i] - 3.5f, ys[i] - 3.5f, 7, 7, c, marker_alpha, false, false, "marker", data});
      if (smooth) {
        const std::vector<double> sm = smooth_curve(s.values, style.smooth);
        std::vector<float> sy;
        for (double v : sm) sy.push_back(py(v));
        f.polys.push_back({xs, sy, 2.5f, c, 1.0f, training ? 6.0f : 0.0f, "smoothed", data});
      }
      legend.push_back(
          {(runs.size() > 1 ? s.run + ": " : std::string()) + s.split, c, training, markers});
    }
    // The legend, top right inside the plot area.
    long longest = 0;
    for (const auto& e : legend) longest = std::max(longest, static_cast<long>(e.label.size()));
    // Label widths estimated at DejaVu Sans's mean advance (0.62 em) so the SVG needs no font.
    const float lw = 46 + 0.62f * kLabelSize * static_cast<float>(longest);
    const float lh = 8 + 20 * static_cast<float>(legend.size());
    // The corner or side of the plot area (top right first) covering the fewest data points.
    float lx = x1 - lw - 8, ly = y0 + 8;
    std::size_t fewest = static_cast<std::size_t>(-1);
    for (const auto& [cx, cy] :
         {std::pair{x1 - lw - 8, y0 + 8}, std::pair{x1 - lw - 8, y1 - lh - 8},
          std::pair{x0 + 8, y0 + 8}, std::pair{x0 + 8, y1 - lh - 8},
          std::pair{x1 - lw - 8, (y0 + y1 - lh) / 2}, std::pair{x0 + 8, (y0 + y1 - lh) / 2}}) {
      std::size_t inside = 0;
      for (const auto& p : f.polys)
        if (p.cls == "raw" || p.cls == "smoothed")
          for (std::size_t i = 0; i < p.xs.size(); ++i)
            for (int q = 0; q < 16 && (q == 0 || i + 1 < p.xs.size()); ++q) {  // along each segment
              const float t = static_cast<float>(q) / 16,
                          nx = i + 1 < p.xs.size() ? p.xs[i + 1] : p.xs[i],
                          ny = i + 1 < p.ys.size() ? p.ys[i + 1] : p.ys[i];
              const float qx = p.xs[i] + t * (nx - p.xs[i]), qy = p.ys[i] + t * (ny - p.ys[i]);
              if (qx >= cx - 4 && qx <= cx + lw + 4 && qy >= cy - 4 && qy <= cy + lh + 4) ++inside;
            }
      if (inside < fewest) fewest = inside, lx = cx, ly = cy;
    }
    f.rects.push_back({lx, ly, lw, lh, {255, 255, 255}, 0.85f, true, true});
    for (std::size_t i = 0; i < legend.size(); ++i) {
      const float y = ly + 14 + 20 * static_cast<float>(i);
      f.polys.push_back({{lx + 6, lx + 30},
                         {y, y},
                         2,
                         legend[i].colour,
                         1,
                         legend[i].training ? 6.0f : 0.0f,
                         "legend",
                         {},
                         true});
      if (legend[i].training)
        f.discs.push_back({lx + 18, y, 3.0f, legend[i].colour, 1, true});
      else if (legend[i].markers)
        f.rects.push_back({lx + 14.5f, y - 3.5f, 7, 7, legend[i].colour, 1, false, true});
      f.texts.push_back(
          {lx + 38, y - kCapHeight * kLabelSize / 2, legend[i].label, kLabelSize, kInk});
    }
  }
  return f;
}

}  // namespace cnn::viz
