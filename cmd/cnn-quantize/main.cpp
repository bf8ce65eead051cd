// cnn-quantize: post-training int8 quantization of a run directory, calibrated on a dataset;
// the result is a run directory (DESIGN.md, share/cnn-quantize.md).
#include <cstdio>
#include <iostream>

#include "common/data_flags.hpp"
#include "common/run_main.hpp"
#include "train/quantize.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Quantize a trained model to int8 for inference: observe its Conv2D and Dense layers'\n"
      "inputs on calibration data, give each an 8-bit scale, round its kernel per output\n"
      "channel, and write a run directory that cnn-eval, cnn-extract-features and\n"
      "cnn-visualize read.\n\n"
      "Examples:\n"
      "  cnn-quantize runs/fmnist --calibrate fashion-mnist:train -o runs/fmnist-int8\n"
      "  cnn-eval runs/fmnist-int8 --data fashion-mnist:test\n"
      "  cnn-quantize runs/cats --calibrate ../shared/data/cats_and_dogs_filtered/train \\\n"
      "      --method percentile --percentile 99.99 -o runs/cats-int8",
      "cnn-quantize"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  cnn::train::QuantizeOptions opt;
  cnn::cmd::DataFlags data_flags;
  app.add_option("run", opt.run,
                 "A run directory (cnn-train, cnn-finetune), a model directory (cnn-import), or "
                 "an architecture JSON with --weights")
      ->required();
  app.add_option("--weights", opt.weights, "Weights (.safetensors); default: the run's");
  app.add_option("--calibrate", opt.data,
                 "Calibration data: fashion-mnist:train, an image folder, a record stream")
      ->required();
  app.add_option("-o,--output", opt.output, "The quantized run directory (must not exist)")
      ->required();
  app.add_option("--method", opt.method,
                 "minmax (the whole range seen) or percentile (the central --percentile %)")
      ->check(CLI::IsMember({"minmax", "percentile"}))
      ->capture_default_str();
  app.add_option("--percentile", opt.percentile, "With --method percentile: the % of values kept")
      ->check(cnn::cmd::at_least(50.0001, 100))
      ->capture_default_str();
  app.add_option("--samples", opt.samples,
                 "Calibration samples, a seeded random subset (0: all of them)")
      ->capture_default_str();
  app.add_option("--keep-float", opt.keep_float, "Layers to leave in float")->expected(1, -1);
  app.add_flag("--keep-winograd", opt.keep_winograd,
               "Leave float the 3x3 layers that run by Winograd in float (by default they "
               "become int8, by im2col)");
  bool no_bias_correction = false;
  app.add_flag("--no-bias-correction", no_bias_correction,
               "Keep the biases as they are (by default each int8 layer's bias takes back the "
               "mean shift that rounding its kernel gives its outputs on the calibration data)");
  app.add_option("--equalize", opt.equalize,
                 "Equalize activation ranges first (SmoothQuant) with this alpha in (0, 1]: a "
                 "layer's output channels are divided by per-channel scales that its readers' "
                 "weights take back; intermediate activations of the result change (0: off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--batch-size", opt.batch_size, "Samples per forward pass")
      ->check(cnn::cmd::at_least(1))
      ->capture_default_str();
  data_flags.add_to(app);

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    opt.seed = common.seed;
    opt.bias_correction = !no_bias_correction;
    opt.threads = cnn::cmd::resolve_threads(common.threads);
    opt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    data_flags.apply(opt.data_overrides);
    opt.log = [&](const std::string& line) {
      if (!common.quiet) std::cerr << line << "\n";
    };
    opt.stop = cnn::cmd::stop_on_sigint();
    const cnn::train::QuantizeResult res = cnn::train::quantize_run(opt);
    if (res.interrupted) {
      if (!common.quiet) std::cerr << "interrupted: nothing was written\n";
      return cnn::cmd::kInterrupted;
    }
    if (!common.quiet) {
      for (const auto& q : res.layers) {
        char line[200];
        if (q.quantized)
          std::snprintf(
              line, sizeof line, "  %-24s %-7s int8  input [%.4g, %.4g] scale %.4g zero point %d",
              q.name.c_str(), q.type.c_str(), q.low, q.high, double(q.scale), q.zero_point);
        else
          std::snprintf(line, sizeof line, "  %-24s %-7s float %s", q.name.c_str(), q.type.c_str(),
                        q.reason.c_str());
        std::cerr << line << "\n";
      }
      std::cerr << "Calibrated on " << res.samples << " samples in " << res.seconds << " s; wrote "
                << res.output << "\n";
    }
    if (common.json) {
      cnn::json_ordered j = cnn::train::quantize_report_json(res, opt);
      j["output"] = res.output;
      std::cout << j.dump() << "\n";
    }
    return cnn::cmd::kOk;
  });
}
