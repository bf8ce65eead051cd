// cnn-visualize: look inside a convnet -- learning curves, kernels, activations, filters by
// gradient ascent, Grad-CAM heatmaps, classic filter banks, and a one-page HTML report.
#include <iostream>

#include "common/run_main.hpp"
#include "tensor/text.hpp"
#include "viz/canvas.hpp"
#include "viz/commands.hpp"

namespace {

// "a:b" -> [a, b); "a" -> [a, a + 1).
std::pair<std::size_t, std::size_t> parse_range(const std::string& s) {
  try {
    const auto colon = s.find(':');
    std::size_t pos = 0;
    const unsigned long a = std::stoul(s.substr(0, colon), &pos);
    if (pos != s.substr(0, colon).size()) throw std::invalid_argument(s);
    if (colon == std::string::npos) return {a, a + 1};
    const std::string rest = s.substr(colon + 1);
    const unsigned long b = std::stoul(rest, &pos);
    if (pos != rest.size() || b <= a) throw std::invalid_argument(s);
    return {a, b};
  } catch (const std::logic_error&) {
    throw CLI::ValidationError("--filters",
                               "expected FIRST:END with FIRST < END (e.g. 0:16), got '" + s + "'");
  }
}

std::vector<std::string> split_commas(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::size_t start = 0;
    while (start <= s.size()) {
      const auto comma = s.find(',', start);
      const std::string part =
          s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Look inside a convnet: learning curves, kernels, activations, filters by gradient ascent,\n"
      "Grad-CAM class activation maps, classic filter banks, an HTML report. Every subcommand\n"
      "writes to -o, prints the written paths (a JSON list with --json), and has --help.\n\n"
      "Examples:\n"
      "  cnn-visualize curves runs/cats runs/cats_aug -o curves.svg --smooth 0.8\n"
      "  cnn-visualize cam runs/squeezenet cat.bmp --classes synset.txt -o cam/",
      "cnn-visualize"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  app.require_subcommand(1);
  app.fallthrough();

  std::string output;
  cnn::viz::ModelInput model;
  std::vector<std::string> layers_arg;

  cnn::viz::CurvesOptions curves;
  std::vector<std::string> metrics_arg;
  auto* c_curves = app.add_subcommand("curves", "Learning curves from run histories (PNG or SVG)");
  c_curves->footer(
      "Example:\n  cnn-visualize curves runs/a runs/b --smooth 0.8 --metrics loss,accuracy -o "
      "curves.png");
  c_curves->add_option("runs", curves.runs, "Run directories (or history.json files)")->required();
  c_curves->add_option("-o,--output", output, "Output .png or .svg")->required();
  c_curves
      ->add_option("--smooth", curves.smooth, "Exponential smoothing factor in [0, 1) (0: none)")
      ->check(cnn::cmd::at_least(0, 0.999999));
  c_curves->add_option("--metrics", metrics_arg,
                       "Metrics, comma-separated (default: loss,accuracy)");

  cnn::viz::KernelsOptions kernels;
  std::string layer_arg;
  auto* c_kernels = app.add_subcommand("kernels", "Raw weights of a Conv2D layer as small tiles");
  c_kernels->footer("Example:\n  cnn-visualize kernels runs/cats --layer conv2d -o kernels.png");
  c_kernels->add_option("model", model.target, "Run directory or architecture JSON")->required();
  c_kernels->add_option("--weights", model.weights, "Weights (.safetensors); default: the run's");
  c_kernels->add_option("--layer", layer_arg, "Conv2D layer (default: the first)");
  c_kernels->add_option("-o,--output", output, "Output .png")->required();

  cnn::viz::ActivationsOptions acts;
  auto* c_acts =
      app.add_subcommand("activations", "Each layer's output for one image as channel tiles");
  c_acts->footer(
      "Example:\n  cnn-visualize activations runs/cats cat.1700.jpg --layers conv2d,max_pooling2d "
      "-o acts/");
  c_acts->add_option("model", model.target, "Run directory or architecture JSON")->required();
  c_acts->add_option("image", acts.image, "Input image (JPEG, PNG, BMP, PNM)")->required();
  c_acts->add_option("--weights", model.weights, "Weights (.safetensors); default: the run's");
  c_acts->add_option("--layers", layers_arg,
                     "Layers, comma-separated (default: every (h, w, c) output)");
  c_acts->add_option("--cols", acts.cols, "Tiles per row")->check(cnn::cmd::at_least(1));
  c_acts
      ->add_option("-o,--output", output, "A .png (layers stacked) or a folder (one PNG per layer)")
      ->required();

  cnn::viz::FiltersOptions filters;
  std::string range_arg = "0:16";
  std::size_t size_arg = 0;
  auto* c_filters =
      app.add_subcommand("filters", "Input patterns that maximise filters (gradient ascent)");
  c_filters->footer(
      "Example:\n  cnn-visualize filters runs/cats --layer conv2d_2 --filters 0:16 --steps 40 -o "
      "filters.png");
  c_filters->add_option("model", model.target, "Run directory or architecture JSON")->required();
  c_filters->add_option("--weights", model.weights, "Weights (.safetensors); default: the run's");
  c_filters->add_option("--layer", layer_arg, "Conv2D layer")->required();
  c_filters->add_option("--filters", range_arg, "Filters FIRST:END (end excluded)")
      ->capture_default_str();
  c_filters->add_option("--steps", filters.steps, "Gradient ascent steps")->capture_default_str();
  c_filters
      ->add_option("--step-size", filters.step_size, "Step in pixel units (gradient / its RMS)")
      ->capture_default_str()
      ->check(cnn::cmd::at_least(1));
  c_filters->add_option("--size", size_arg, "Input size S (S x S); default: the model's input")
      ->check(cnn::cmd::at_least(1));
  c_filters->add_option("--cols", filters.cols, "Tiles per row")
      ->capture_default_str()
      ->check(cnn::cmd::at_least(1));
  c_filters->add_option("-o,--output", output, "Output .png")->required();

  cnn::viz::CamOptions cam;
  std::string class_arg, classes_arg;
  auto* c_cam = app.add_subcommand("cam", "Grad-CAM heatmap of a class for one image");
  c_cam->footer(
      "Example:\n  cnn-visualize cam squeezenet.json --weights squeezenet.safetensors cat.bmp "
      "--classes synset.txt -o cam/");
  c_cam->add_option("model", model.target, "Run directory or architecture JSON")->required();
  c_cam->add_option("image", cam.image, "Input image (JPEG, PNG, BMP, PNM)")->required();
  c_cam->add_option("--weights", model.weights, "Weights (.safetensors); default: the run's");
  c_cam->add_option("--class", class_arg, "Class name or index (default: the predicted class)");
  c_cam->add_option("--layer", layer_arg, "Conv2D layer (default: the last)");
  c_cam->add_option("--classes", classes_arg, "Class names, one per line (default: the run's)");
  c_cam->add_option("-o,--output", output, "Output folder")->required();

  cnn::viz::FilterbankOptions bank;
  auto* c_bank =
      app.add_subcommand("filterbank", "Convolve a grayscale image with classic kernels");
  c_bank->footer(
      "Example:\n  cnn-visualize filterbank photo.jpg --kernel gabor --orientations 8 --cols 4 -o "
      "gabor.png");
  c_bank->add_option("image", bank.image, "Input image")->required();
  c_bank->add_option("--kernel", bank.kernel, "sobel, prewitt, haar, gabor, or a kernel file")
      ->capture_default_str();
  c_bank
      ->add_option("--gabor-frequency", bank.gabor_frequency, "Gabor frequency (cycles per pixel)")
      ->capture_default_str();
  c_bank->add_option("--gabor-theta", bank.gabor_theta, "One Gabor orientation in degrees");
  c_bank->add_option("--gabor-sigma", bank.gabor_sigma,
                     "Gabor sigma in pixels (default: 0.56 / frequency)");
  c_bank->add_option("--orientations", bank.orientations, "Gabor orientations k * 180 / N")
      ->capture_default_str()
      ->check(cnn::cmd::at_least(1));
  c_bank->add_option("--haar-size", bank.haar_size, "Haar kernel size (even)")
      ->capture_default_str()
      ->check(cnn::cmd::at_least(2, 256));
  c_bank
      ->add_option("--cols", bank.cols,
                   "Kernels per row (default: as many as fit in 1600 pixels, at most 4)")
      ->check(cnn::cmd::at_least(1));
  c_bank->add_option("-o,--output", output, "Output .png")->required();

  cnn::viz::ReportOptions report;
  std::string data_arg;
  auto* c_report = app.add_subcommand("report", "One self-contained HTML page about a run");
  c_report->footer("Example:\n  cnn-visualize report runs/cats -o report.html");
  c_report->add_option("run", report.run_dir, "Run directory")->required();
  c_report->add_option("--data", data_arg,
                       "Dataset to evaluate (default: the run's validation data)");
  c_report->add_option("--samples", report.samples, "Sample predictions shown")
      ->capture_default_str();
  c_report->add_option("--cams", report.cams, "Grad-CAM pictures")->capture_default_str();
  c_report->add_option("-o,--output", output, "Output .html")->required();

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    model.threads = cnn::cmd::resolve_threads(common.threads);
    cnn::viz::CommandResult r;
    // Pictures with text need the font: a missing one is reported before any long work.
    if (c_kernels->parsed() || c_acts->parsed() || c_filters->parsed()) cnn::viz::require_font();
    if (c_curves->parsed()) {
      curves.output = output;
      curves.metrics = split_commas(metrics_arg);
      r = cnn::viz::run_curves(curves);
    } else if (c_kernels->parsed()) {
      kernels.model = model;
      if (!layer_arg.empty()) kernels.layer = layer_arg;
      kernels.output = output;
      r = cnn::viz::run_kernels(kernels);
    } else if (c_acts->parsed()) {
      acts.model = model;
      acts.layers = split_commas(layers_arg);
      acts.output = output;
      r = cnn::viz::run_activations(acts);
    } else if (c_filters->parsed()) {
      filters.model = model;
      filters.layer = layer_arg;
      std::tie(filters.first, filters.last) = parse_range(range_arg);
      if (size_arg) filters.size = size_arg;
      filters.seed = common.seed;
      filters.output = output;
      r = cnn::viz::run_filters(filters);
    } else if (c_cam->parsed()) {
      cam.model = model;
      if (!class_arg.empty()) cam.cls = class_arg;
      if (!layer_arg.empty()) cam.layer = layer_arg;
      if (!classes_arg.empty()) cam.classes = classes_arg;
      cam.output = output;
      r = cnn::viz::run_cam(cam);
    } else if (c_bank->parsed()) {
      bank.output = output;
      r = cnn::viz::run_filterbank(bank);
    } else if (c_report->parsed()) {
      report.output = output;
      if (!data_arg.empty()) report.data = data_arg;
      report.threads = model.threads;
      r = cnn::viz::run_report(report);
    }
    if (!common.quiet)
      for (const auto& n : r.notes) std::cerr << cnn::printable(n) << "\n";
    if (common.json) {
      std::cout << cnn::json(r.files).dump() << "\n";
    } else {
      for (const auto& f : r.files) std::cout << f << "\n";
    }
    return cnn::cmd::kOk;
  });
}
