// Post-training int8 quantization as cnn-quantize performs it (share/cnn-quantize.md): the
// inputs of a model's Conv2D and Dense layers are observed over calibration data, each gets an
// unsigned 8-bit scale and zero point (from the range seen, or a percentile of it), its kernel is
// rounded to the per-output-channel int8 grid (layers/quantized.hpp), its bias takes back the
// mean shift that rounding gives its outputs on the calibration data (bias correction), and the
// result is written as a run directory that every program reads.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::train {

struct QuantizeOptions {
  std::string run;                // a run directory, a model directory, or an architecture file
  std::string weights;            // default: the run's
  std::string data;               // calibration data (dataset spec)
  std::string output;             // the quantized run directory (must not exist)
  std::string method = "minmax";  // or "percentile"
  double percentile = 99.99;      // percentile: the range kept, in percent of the values
  std::size_t samples = 1000;     // calibration samples (a seeded random subset; 0: all)
  std::size_t batch_size = 32;
  std::uint64_t seed = 0;
  std::size_t threads = 1;              // data decoding threads
  std::vector<std::string> keep_float;  // layers left in float
  // Leave float the 3x3 layers that run by Winograd in float (by default they become int8 by
  // im2col: the whole model measured 1.4x (MNIST) and 1.26x (cats_dogs) faster so).
  bool keep_winograd = false;
  // Subtract from each int8 layer's bias the mean, over the calibration data, of what rounding
  // its kernel adds to its outputs: (kernel on the grid - kernel) applied to the mean window.
  bool bias_correction = true;
  // Activation-range equalization (SmoothQuant) with this migration strength alpha in (0, 1];
  // 0: off. A Conv2D/Dense with relu or no activation whose outputs reach only Conv2D/Dense
  // layers (some of them int8) through pooling, Dropout, ZeroPadding2D, relu or linear
  // Activations and Concatenate has output channel c divided by s_c = amax_c^alpha /
  // wmax_c^(1 - alpha), and its readers' kernel rows for that channel multiplied by s_c: the
  // same function in float, flatter ranges for int8. amax_c: the channel's largest value on the
  // calibration data; wmax_c: its readers' largest |weight|.
  double equalize = 0.0;
  json data_overrides = json::object();  // data-section fields: target_size, rescale, ...
  std::string mnist_dir;
  const std::atomic<bool>* stop = nullptr;  // set (SIGINT): stop, write nothing
  std::function<void(const std::string&)> log;
};

struct QuantizedLayer {
  std::string name, type;
  bool quantized = false;
  std::string reason;                 // why not, when not
  double seen_min = 0, seen_max = 0;  // over the calibration data
  double low = 0, high = 0;           // the range kept (contains 0)
  float scale = 1.0f;
  int zero_point = 0;
  // Bias correction: whether done (a layer without a bias has none), and the largest magnitude
  // taken from a bias.
  bool bias_corrected = false;
  double bias_shift = 0;
  // Equalization: s_c per output channel (the outputs are divided by them); empty when none.
  std::vector<float> equalize_scale;
};

struct QuantizeResult {
  std::vector<QuantizedLayer> layers;  // every Conv2D and Dense, in model order
  std::size_t samples = 0;
  double seconds = 0;
  std::string output;
  bool interrupted = false;
};

// Validates everything first (output absent and its folder writable, layer names, weights, the
// data against the model's input), calibrates, and writes the run directory: model.json (the
// layers' "quantization" keys), weights.safetensors (kernels on the int8 grid, in float),
// quantization.json (this result), and the source run's train.json, class_indices.json and
// history files. Nothing is left at the output on failure or interruption.
QuantizeResult quantize_run(const QuantizeOptions& options);

json_ordered quantize_report_json(const QuantizeResult& result, const QuantizeOptions& options);

}  // namespace cnn::train
