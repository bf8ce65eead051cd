// The subcommands of cnn-visualize as library entry points: each validates its inputs and
// output path before any long work, computes its pictures in memory, writes them all-or-nothing
// (viz::Outputs) and returns the written paths. Errors: ConfigError/DataError/FormatError/
// InputError/ShapeError for bad inputs, IoError for outputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::viz {

struct CommandResult {
  std::vector<std::string> files;
  std::vector<std::string> notes;  // human lines for stderr (top-5 classes, skipped sections)
};

struct CurvesOptions {
  std::vector<std::string> runs;     // run directories or history.json files
  std::string output;                // .png or .svg
  double smooth = 0;                 // 0 or [0, 1)
  std::vector<std::string> metrics;  // empty: loss and accuracy
};
CommandResult run_curves(const CurvesOptions& o);

struct ModelInput {
  std::string target;   // run directory or architecture JSON
  std::string weights;  // empty: the run's
  std::size_t threads = 1;
};

struct KernelsOptions {
  ModelInput model;
  std::optional<std::string> layer;  // default: the first Conv2D
  std::string output;                // .png
};
CommandResult run_kernels(const KernelsOptions& o);

struct ActivationsOptions {
  ModelInput model;
  std::string image;
  std::vector<std::string> layers;  // empty: every layer with an h x w x c output
  std::string output;               // a .png (layers stacked) or a folder (<layer>.png each)
  std::size_t cols = 16;
};
CommandResult run_activations(const ActivationsOptions& o);

struct FiltersOptions {
  ModelInput model;
  std::string layer;
  std::size_t first = 0, last = 16;
  std::size_t steps = 40;
  float step_size = 1.0f;
  std::optional<std::size_t> size;
  std::uint64_t seed = 0;
  std::size_t cols = 8;
  std::string output;  // .png
};
CommandResult run_filters(const FiltersOptions& o);

struct CamOptions {
  ModelInput model;
  std::string image;
  std::optional<std::string> cls;      // a class name or index; default the predicted class
  std::optional<std::string> layer;    // default: the last Conv2D
  std::optional<std::string> classes;  // a file of class names, one per line
  std::string output;                  // a folder
};
CommandResult run_cam(const CamOptions& o);

struct FilterbankOptions {
  std::string image;
  std::string kernel = "sobel";  // sobel, prewitt, haar, gabor, or a kernel file
  double gabor_frequency = 0.1;
  std::optional<double> gabor_theta;  // degrees; default: `orientations` angles k * 180 / n
  std::optional<double> gabor_sigma;  // default: gabor_default_sigma(frequency)
  std::size_t orientations = 4;
  std::size_t haar_size = 8;
  std::size_t cols = 0;  // kernels per row; 0: filterbank_layout's default
  std::string output;    // .png
};
CommandResult run_filterbank(const FilterbankOptions& o);

struct ReportOptions {
  std::string run_dir;
  std::optional<std::string> data;  // default: the run's validation data
  std::string output;               // .html
  std::size_t samples = 8;          // sample predictions shown
  std::size_t cams = 4;             // Grad-CAM pictures
  std::size_t threads = 1;
};
CommandResult run_report(const ReportOptions& o);

// Standard base64 (RFC 4648, with padding), for data: URIs.
std::string base64(const std::vector<std::uint8_t>& bytes);

}  // namespace cnn::viz
