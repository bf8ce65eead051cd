// Learning curves from run histories (history.json, written by cnn-train): training and
// validation series of each metric, raw and exponentially smoothed, one panel per metric, runs
// overlaid; as an SVG or PNG figure.
#pragma once

#include <string>
#include <vector>

#include "viz/figure.hpp"

namespace cnn::viz {

// The lecture's smooth_curve: s[0] = p[0], s[i] = s[i-1] * factor + p[i] * (1 - factor).
std::vector<double> smooth_curve(const std::vector<double>& points, double factor);

// One series: a run's metric ("loss") on one split ("training": the key metric, "validation":
// "val_" + metric), by epoch.
struct Series {
  std::string run, metric, split;
  std::vector<double> epochs, values;
};

// Reads each run's history: a run directory (its history.json) or a history.json file. The run
// is named by its folder's name. metrics empty: "loss" and "accuracy", those any run has.
// Throws InputError for a missing file, FormatError for one that is not a list of epoch
// objects, DataError (naming the files) for a requested metric no run has.
std::vector<Series> load_series(const std::vector<std::string>& runs,
                                std::vector<std::string> metrics);

struct CurvesStyle {
  double smooth = 0;  // 0: raw curves only; in (0, 1): raw curves faded, smoothed ones drawn over
};

// One panel per metric (in the order of first appearance), side by side: axes with "nice"
// ticks (1, 2, 5 x 10^k), the metric as title and y label, "epoch" as x label, a legend.
// Colours: one per run (matplotlib's tab10 cycle); training dashed with a dot per epoch,
// validation solid with a square per epoch on series of up to 40 points (a single point is
// visible). Polylines carry class "raw" or "smoothed", markers class "marker", all with
// data-run/-metric/-split.
Figure curves_figure(const std::vector<Series>& series, const CurvesStyle& style);

// Ticks for [lo, hi]: multiples of a step 1, 2 or 5 x 10^k giving about `target` ticks.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace cnn::viz
