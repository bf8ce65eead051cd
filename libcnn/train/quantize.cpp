// quantize_run: calibration forwards -> per-layer input ranges -> scales and zero points ->
// kernels on the int8 grid -> a run directory, renamed into place whole.
#include "train/quantize.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>
#include <system_error>
#include <utility>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/weights.hpp"
#include "layers/conv2d.hpp"
#include "layers/quantized.hpp"
#include "model/surgery.hpp"
#include "tensor/rng.hpp"
#include "train/run_dir.hpp"

namespace cnn::train {
namespace fs = std::filesystem;
namespace {

// A thin Conv2D (kh * kw * in_c <= 32: a first layer on 1 or 3 channels) stays float: its
// broadcast-FMA rows read their windows in the input, and fused with a pooling after it, it
// writes the next int8 layer's input as bytes itself (Conv2D::writes_quantized_output). In int8
// (channels padded to 4) the cats-vs-dogs convnet's first layer with its pooling took 3.3-3.4 ms
// at batch 20 against 3.0 in float, and the model ran 1,967-1,985 against 2,004-2,028 images/s;
// SqueezeNet's 3x3 / 2 one also took top-1 agreement with float on the cats-vs-dogs photos from
// 95.9% to 94.5%. One channel would take 4 times the products.

// Whether a pointwise Conv2D (1x1, stride 1) gains from int8: only with 48 filters or more. Its
// input is quantized in a pass of its own and each input value then takes part in `filters`
// products; with fewer, that pass costs more than int8 saves. SqueezeNet 1.1's squeeze layers
// at batch 20 (int8 against float, ms): 16 filters 2.16 / 1.40 and 3.64 / 2.23, 32 filters
// 0.84 / 0.78 and 1.59 / 1.26, 48 filters 0.32 / 0.49 and 0.67 / 0.67, 64 filters 0.57 / 0.66.
bool pointwise_gains(const Conv2D& c, std::size_t filters) {
  const kernels::ConvGeometry& g = c.geometry();
  return g.kh * g.kw != 1 || g.stride_h != 1 || g.stride_w != 1 || filters >= 48;
}

// A thin product (k <= 32: a first layer, or a 1x1 on few channels) runs faster in int8 only
// with its windows read in place (not 1x1), at stride 1, and its windows' bytes (kernels::qconv_k:
// channels padded to 4, or one channel's row taps packed 4 to a quad) at most a quarter padding:
// cats_dogs' 3x3 on 3 channels with its pooling took 2.35-2.45 ms at batch 20 against 2.65 in
// float; MNIST's 3x3 on 1 channel, its taps packed and its 2x2 pooling in int32, 0.30 against
// 0.61 ms at batch 256 (padded to 4 channels, 4 times the products: 0.79-0.82 against 0.64-0.65).
// Strided (SqueezeNet's 3x3 / 2 first layer), int8 ran 5-8% faster and cost 1.4 points of top-1
// agreement with float.
bool thin_gains(const Conv2D& c) {
  const kernels::ConvGeometry& g = c.geometry();
  return kernels::qconv_geometry_fits(g) && g.stride_h == 1 && g.stride_w == 1 &&
         4 * g.col_cols() >= 3 * kernels::qconv_k(g);
}

// Values kept per layer for a percentile: an even sample of each batch's inputs.
constexpr std::size_t kSampleValues = std::size_t{1} << 20;

// Adds to sum[k] (k = (ky, kx, ci)) the sum over g's output pixels of column k of im2col(g, x):
// the input value each kernel tap meets, padding taps 0, for one sample x [h, w, c].
void add_window_sums(const kernels::ConvGeometry& g, const float* x, double* sum) {
  std::vector<double> acc(g.c);
  for (std::size_t ky = 0; ky < g.kh; ++ky)
    for (std::size_t kx = 0; kx < g.kw; ++kx) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t oy = 0; oy < g.out_h; ++oy) {
        const std::ptrdiff_t iy = kernels::source(oy, ky, g.stride_h, g.dil_h, g.pad_top, g.h);
        if (iy < 0) continue;
        for (std::size_t ox = 0; ox < g.out_w; ++ox) {
          const std::ptrdiff_t ix = kernels::source(ox, kx, g.stride_w, g.dil_w, g.pad_left, g.w);
          if (ix < 0) continue;
          const float* v = x + (std::size_t(iy) * g.w + std::size_t(ix)) * g.c;
          for (std::size_t ci = 0; ci < g.c; ++ci) acc[ci] += v[ci];
        }
      }
      double* s = sum + (ky * g.kw + kx) * g.c;
      for (std::size_t ci = 0; ci < g.c; ++ci) s[ci] += acc[ci];
    }
}

// Equalization (QuantizeOptions::equalize): a producer, the layers that read its channels, and
// the largest value of each of its output channels on the calibration data.
struct EqualizeGroup {
  std::size_t producer = 0;
  std::vector<std::pair<std::size_t, std::size_t>> readers;  // (node, its channel of output 0)
  std::vector<double> amax;
};

// Layers whose output channel c depends on their input channel c alone, positively homogeneous:
// scaling an input channel by s > 0 scales the output channel by s.
bool passes_scale(const Layer& l) {
  const std::string type = l.type();
  if (type == "Activation") {
    const auto act = l.activation();
    return act && (*act == kernels::Act::Relu || *act == kernels::Act::Linear);
  }
  return type == "MaxPooling2D" || type == "AveragePooling2D" || type == "GlobalAveragePooling2D" ||
         type == "GlobalMaxPooling2D" || type == "Dropout" || type == "ZeroPadding2D";
}

// Adds to `out` the Conv2D/Dense layers that read node `at`'s channels, where channel 0 of `at`
// is channel `offset` of what they read, through layers that pass a per-channel scale. False
// when another kind of layer reads them, or when they are the model's output.
bool channel_readers(const Model& m, std::size_t at, std::size_t offset,
                     std::vector<std::pair<std::size_t, std::size_t>>& out) {
  if (at + 1 == m.size()) return false;
  for (std::size_t j = 0; j < m.size(); ++j) {
    const std::vector<std::size_t>& ins = m.node(j).inputs;
    for (std::size_t r = 0; r < ins.size(); ++r) {
      if (ins[r] != at) continue;
      const std::string type = m.layer(j).type();
      if (type == "Conv2D" || type == "Dense") {
        if (ins.size() != 1) return false;
        out.emplace_back(j, offset);
      } else if (type == "Concatenate") {  // always along the channels
        std::size_t before = 0;
        for (std::size_t p = 0; p < r; ++p)
          before +=
              (ins[p] == Model::kModelInput ? m.input_shape() : m.node(ins[p]).out_shape).back();
        if (!channel_readers(m, j, offset + before, out)) return false;
      } else if (!passes_scale(m.layer(j)) || !channel_readers(m, j, offset, out)) {
        return false;
      }
    }
  }
  return true;
}

// The producers whose outputs can be equalized and reach at least one int8 layer.
std::vector<EqualizeGroup> equalize_groups(const Model& m, const std::vector<std::size_t>& int8) {
  std::vector<EqualizeGroup> groups;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const Layer& l = m.layer(i);
    const auto act = l.activation();
    if ((l.type() != "Conv2D" && l.type() != "Dense") || !act ||
        (*act != kernels::Act::Relu && *act != kernels::Act::Linear))
      continue;
    EqualizeGroup g;
    g.producer = i;
    if (!channel_readers(m, i, 0, g.readers) || g.readers.empty()) continue;
    const bool reaches_int8 = std::any_of(g.readers.begin(), g.readers.end(), [&](const auto& r) {
      return std::find(int8.begin(), int8.end(), r.first) != int8.end();
    });
    if (reaches_int8) groups.push_back(std::move(g));
  }
  return groups;
}

// Divides the producer's output channels by s_c and multiplies its readers' kernel rows for them
// by s_c (QuantizeOptions::equalize); returns the scales.
std::vector<float> equalize(Model& m, const EqualizeGroup& g, double alpha) {
  std::vector<Param>& prod = m.layer(g.producer).params();
  const std::size_t c = prod[0].shape.back();
  // A reader's kernel [.., in, out]: row r reads input channel r % in.
  auto for_rows = [&](const std::pair<std::size_t, std::size_t>& r, auto&& f) {
    Param& k = m.layer(r.first).params()[0];
    const std::size_t out = k.shape.back(), in = k.shape[k.shape.size() - 2];
    for (std::size_t row = 0; row < k.size() / out; ++row) {
      const std::size_t ch = row % in;
      if (ch >= r.second && ch < r.second + c) f(ch - r.second, k.value + row * out, out);
    }
  };
  std::vector<double> wmax(c, 0.0);
  for (const auto& r : g.readers)
    for_rows(r, [&](std::size_t ch, const float* row, std::size_t n) {
      for (std::size_t j = 0; j < n; ++j) wmax[ch] = std::max(wmax[ch], double(std::fabs(row[j])));
    });
  std::vector<double> s(c, 1.0);
  double log_sum = 0;
  std::size_t scaled = 0;
  for (std::size_t ch = 0; ch < c; ++ch)
    if (g.amax[ch] > 0 && wmax[ch] > 0 && std::isfinite(g.amax[ch])) {
      s[ch] = std::pow(g.amax[ch], alpha) / std::pow(wmax[ch], 1.0 - alpha);
      log_sum += std::log(s[ch]);
      ++scaled;
    }
  // The scales' geometric mean made 1: the values keep their overall size.
  const double mean = scaled ? std::exp(log_sum / double(scaled)) : 1.0;
  std::vector<float> scale(c, 1.0f);
  for (std::size_t ch = 0; ch < c; ++ch)
    if (s[ch] != 1.0) scale[ch] = static_cast<float>(s[ch] / mean);
  for (std::size_t i = 0; i < prod[0].size(); ++i) prod[0].value[i] /= scale[i % c];
  if (prod.size() > 1 && prod[1].name == "bias")
    for (std::size_t ch = 0; ch < c; ++ch) prod[1].value[ch] /= scale[ch];
  for (const auto& r : g.readers)
    for_rows(r, [&](std::size_t ch, float* row, std::size_t n) {
      for (std::size_t j = 0; j < n; ++j) row[j] *= scale[ch];
    });
  return scale;
}

// What the calibration sees of one layer's input.
struct Observer {
  std::size_t node = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::vector<float> sample;  // for percentiles
  // For bias correction: the sum of the layer's product rows (a Conv2D's windows, a Dense's
  // inputs) over the calibration data, and how many rows each sample has. Empty when off.
  const kernels::ConvGeometry* geometry = nullptr;  // a Conv2D's; null for a Dense
  std::vector<double> row_sum;
  std::size_t rows_per_sample = 0;

  void add_rows(const float* x, std::size_t samples, std::size_t sample_size) {
    for (std::size_t s = 0; s < samples; ++s, x += sample_size) {
      if (geometry) {
        add_window_sums(*geometry, x, row_sum.data());
      } else {  // a Dense: rows of its kernel's k inputs (more than one when it reads [..., k])
        const std::size_t k = row_sum.size();
        for (std::size_t r = 0; r + k <= sample_size; r += k)
          for (std::size_t i = 0; i < k; ++i) row_sum[i] += x[r + i];
      }
    }
  }

  void add(const float* x, std::size_t count, std::size_t per_batch) {
    for (std::size_t i = 0; i < count; ++i) {
      min = std::min(min, double(x[i]));
      max = std::max(max, double(x[i]));
    }
    if (per_batch == 0 || count == 0) return;
    const std::size_t step = std::max<std::size_t>(1, count / per_batch);
    for (std::size_t i = 0; i < count; i += step) sample.push_back(x[i]);
  }
};

// The value below which `fraction` of the sorted sample lies (linear between neighbours).
double quantile(const std::vector<float>& sorted, double fraction) {
  if (sorted.empty()) return 0.0;
  const double at = fraction * double(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(sorted.size() - 1, lo + 1);
  return sorted[lo] + (at - double(lo)) * (double(sorted[hi]) - sorted[lo]);
}

// Scale and zero point for the range [low, high] (which contains 0): 0 is exactly a code.
void choose_scale(QuantizedLayer& q) {
  const double span = q.high - q.low;
  if (!(span > 0)) {
    q.scale = 1.0f;
    q.zero_point = 0;
    return;
  }
  q.scale = static_cast<float>(span / 255.0);
  q.zero_point = static_cast<int>(std::clamp(std::nearbyint(-q.low / double(q.scale)), 0.0, 255.0));
}

// Writes the run directory into a fresh temporary sibling, then renames it to output.
void write_run(Model& qmodel, const RunDir& run, const std::string& output,
               const json_ordered& report) {
  const fs::path out = fs::absolute(output).lexically_normal();
  const fs::path parent = out.parent_path();
  fs::path temp;
  Rng rng(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  for (int attempt = 0;; ++attempt) {
    std::string name = ".tmp-";  // a hidden sibling: the same file system, so rename works
    name += out.filename().string();
    name += '-';
    name += std::to_string(static_cast<unsigned>(rng.uniform(0, 1e9)));
    temp = parent / name;
    std::error_code ec;
    if (fs::create_directory(temp, ec)) break;
    if (attempt > 10) throw IoError(temp.string(), "create folder", ec.message());
  }
  try {
    io::save_model(qmodel, (temp / "model.json").string());
    io::save_weights(qmodel, (temp / "weights.safetensors").string());
    io::write_file_atomically((temp / "quantization.json").string(), report.dump(1) + "\n");
    if (!run.dir.empty())
      for (const char* name : {"train.json", "class_indices.json", "history.json", "history.csv"}) {
        const fs::path src = fs::path(run.dir) / name;
        if (fs::is_regular_file(src))
          io::write_file_atomically((temp / name).string(), io::read_file(src.string()));
      }
    std::error_code ec;
    if (fs::exists(out, ec))
      throw InputError(out.string(), "already exists; give another -o or remove it");
    fs::rename(temp, out, ec);
    if (ec) throw IoError(out.string(), "rename the finished folder into place", ec.message());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(temp, ec);
    throw;
  }
}

}  // namespace

QuantizeResult quantize_run(const QuantizeOptions& opt) {
  using clock = std::chrono::steady_clock;
  if (opt.method != "minmax" && opt.method != "percentile")
    throw UsageError("--method", "'" + opt.method + "': expected minmax or percentile");
  if (!(opt.percentile > 50.0 && opt.percentile <= 100.0))
    throw UsageError("--percentile", "expected a percentage above 50 and at most 100, got " +
                                         std::to_string(opt.percentile));
  const fs::path out = fs::absolute(opt.output).lexically_normal();
  if (fs::exists(out))
    throw InputError(out.string(), "already exists; give another -o or remove it");
  io::check_writable_directory(out.parent_path().string());

  const RunDir run = open_run(opt.run, opt.weights, NeedWeights::yes);
  if (!run.weights_note.empty() && opt.log) opt.log("note: " + run.weights_note);
  Model model = io::load_model(run.model_path);
  io::load_weights(model, run.weights_path);
  for (const std::string& name : opt.keep_float)
    require_layer(model, name, "--keep-float", run.model_path);

  // The layers: every Conv2D and Dense; which of them become int8, and why not the others.
  QuantizeResult res;
  std::vector<Observer> observers;
  std::vector<std::size_t> which;  // res.layers index of each observer
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    if (l.type() != "Conv2D" && l.type() != "Dense") continue;
    QuantizedLayer q;
    q.name = l.name();
    q.type = l.type();
    if (std::find(opt.keep_float.begin(), opt.keep_float.end(), q.name) != opt.keep_float.end())
      q.reason = "kept float (--keep-float)";
    else if (const auto* c = dynamic_cast<const Conv2D*>(&l); c && c->thin() && !thin_gains(*c))
      q.reason = c->geometry().stride_h * c->geometry().stride_w > 1
                     ? "a strided thin product (k <= 32): int8 would gain little there and cost "
                       "top-1 agreement; broadcast-FMA rows in float"
                     : "a thin product (k <= 32) that int8 would not run faster: broadcast-FMA "
                       "rows in float";
    else if (c && !pointwise_gains(*c, model.node(i).out_shape.back()))
      q.reason =
          "a 1x1 convolution with fewer than 48 filters: quantizing its input would cost more "
          "than int8 saves";
    else if (c && c->uses_winograd() && opt.keep_winograd)
      q.reason = "runs by Winograd in float (--keep-winograd)";
    else if (model.node(i).inputs.size() != 1)
      q.reason = "has more than one input";
    if (q.reason.empty()) {
      Observer o;
      o.node = i;
      if (opt.bias_correction) {
        const auto* conv = dynamic_cast<const Conv2D*>(&l);
        o.geometry = conv ? &conv->geometry() : nullptr;
        const Param& kernel = l.params()[0];
        const std::size_t k = kernel.size() / kernel.shape.back();
        o.row_sum.assign(k, 0.0);
        const std::size_t from = model.node(i).inputs[0];
        const Shape& in =
            from == Model::kModelInput ? model.input_shape() : model.node(from).out_shape;
        o.rows_per_sample = conv ? conv->geometry().col_rows() : numel(in) / k;
      }
      observers.push_back(o);
      which.push_back(res.layers.size());
    }
    res.layers.push_back(q);
  }

  // Only finite kernels have an int8 grid: checked before any work. (A Conv2D's or Dense's
  // first parameter is its kernel.)
  for (const Observer& o : observers) {
    const Param& kernel = std::as_const(model).layer(o.node).params()[0];
    for (std::size_t i = 0; i < kernel.size(); ++i)
      if (!std::isfinite(kernel.value[i]))
        throw FormatError(run.weights_path, std::nullopt,
                          "'" + std::as_const(model).layer(o.node).name() + "." + kernel.name +
                              "' holds " + std::to_string(kernel.value[i]) +
                              "; only finite weights can be quantized");
  }

  // The calibration data, read as the model expects, a seeded random subset.
  data::DatasetOptions dopt =
      plan_input(model, run, opt.data, opt.data_overrides, opt.threads, opt.mnist_dir, opt.log)
          .options;
  const std::unique_ptr<data::Dataset> ds = data::open_dataset(opt.data, dopt);
  if (ds->sample_shape() != model.input_shape())
    throw DataError(opt.data, "samples have shape " + shape_str(ds->sample_shape()) +
                                  " but the model '" + model.name() + "' expects " +
                                  shape_str(model.input_shape()) +
                                  "; set --target-size or --color-mode");
  if (ds->size() == 0) throw DataError(opt.data, "holds no samples to calibrate with");
  const std::size_t total = opt.samples == 0 ? ds->size() : std::min(opt.samples, ds->size());
  const std::size_t batches = (total + opt.batch_size - 1) / opt.batch_size;
  data::Batcher batcher(*ds, {opt.batch_size, true, opt.seed, opt.threads, 2, batches});
  const std::size_t per_batch = opt.method == "percentile" ? kSampleValues / batches : 0;
  if (opt.log)
    opt.log("Calibrating " + std::to_string(observers.size()) + " of " +
            std::to_string(res.layers.size()) + " Conv2D/Dense layers on " + std::to_string(total) +
            " samples of " + opt.data + " (" + opt.method + ").");

  Rng rng(opt.seed);
  Context ctx;
  ctx.training = false;
  ctx.rng = &rng;
  // The model's input after its preprocessing, made again here only when a calibrated layer
  // reads it (forward() keeps it to itself).
  const bool reads_input = std::any_of(observers.begin(), observers.end(), [&](const Observer& o) {
    return model.node(o.node).inputs[0] == Model::kModelInput;
  });
  const bool preprocess =
      reads_input && model.preprocessing() && !model.preprocessing()->is_identity();
  Tensor input;  // the model's input after its preprocessing
  data::Batch b;
  const auto t0 = clock::now();
  // One pass over the calibration samples (the same ones each time): a forward pass per batch,
  // then look(x, n, batch) with the model's input x after its preprocessing and the batch's
  // first n samples to count. False when stopped.
  auto pass = [&](auto&& look) {
    std::size_t seen = 0;
    batcher.start_epoch(0);
    while (seen < total && batcher.next(b)) {
      const std::size_t n = std::min(b.size, total - seen);
      model.forward(ctx, b.x);
      const Tensor* x = &b.x;
      if (preprocess) {
        ensure_shape(input, shape_of(b.x));
        const std::size_t c = model.input_shape().back();
        model.preprocessing()->apply(b.x.data(), input.data(), b.x.size() / c, c);
        x = &input;
      }
      look(*x, n, b.size);
      seen += n;
      if (opt.stop && opt.stop->load()) return false;
    }
    return true;
  };

  // Equalization first: the largest value of each producer's output channels, then the
  // rescaled weights that the calibration below sees.
  if (opt.equalize > 0) {
    std::vector<std::size_t> int8;
    for (const Observer& o : observers) int8.push_back(o.node);
    std::vector<EqualizeGroup> groups = equalize_groups(model, int8);
    for (EqualizeGroup& g : groups)
      g.amax.assign(model.node(g.producer).out_shape.back(),
                    -std::numeric_limits<double>::infinity());
    const bool done = pass([&](const Tensor&, std::size_t n, std::size_t batch) {
      for (EqualizeGroup& g : groups) {
        const Tensor& t = model.output_of(g.producer);
        const std::size_t c = g.amax.size(), count = t.size() / batch * n;
        for (std::size_t i = 0; i < count; ++i)
          g.amax[i % c] = std::max(g.amax[i % c], double(t.data()[i]));
      }
    });
    if (!done) {
      res.interrupted = true;
      return res;
    }
    for (const EqualizeGroup& g : groups) {
      std::vector<float> scale = equalize(model, g, opt.equalize);
      const std::string& name = std::as_const(model).layer(g.producer).name();
      for (QuantizedLayer& q : res.layers)
        if (q.name == name) q.equalize_scale = std::move(scale);
    }
    model.params_changed();
    std::ostringstream alpha;
    alpha << opt.equalize;
    if (opt.log)
      opt.log("Equalized the output ranges of " + std::to_string(groups.size()) +
              " layers (alpha " + alpha.str() + ").");
  }

  const bool done = pass([&](const Tensor& x, std::size_t n, std::size_t batch) {
    for (Observer& o : observers) {
      const std::size_t from = model.node(o.node).inputs[0];
      const Tensor& t = from == Model::kModelInput ? x : model.output_of(from);
      o.add(t.data(), t.size() / batch * n, per_batch);
      if (opt.bias_correction) o.add_rows(t.data(), n, t.size() / batch);
    }
    res.samples += n;
  });
  if (!done) {
    res.interrupted = true;
    return res;
  }

  // Ranges, scales and zero points; the architecture with them.
  json arch = json::parse(model.to_json().dump());
  for (std::size_t o = 0; o < observers.size(); ++o) {
    Observer& ob = observers[o];
    QuantizedLayer& q = res.layers[which[o]];
    q.seen_min = ob.min;
    q.seen_max = ob.max;
    if (!std::isfinite(ob.min) || !std::isfinite(ob.max))
      throw DataError(opt.data, "the input of layer '" + q.name +
                                    "' is not finite on this data (an infinity, or no value "
                                    "but NaN); a model whose activations overflow cannot be "
                                    "calibrated");
    double lo = ob.min, hi = ob.max;
    if (opt.method == "percentile") {
      std::sort(ob.sample.begin(), ob.sample.end());
      lo = quantile(ob.sample, 1.0 - opt.percentile / 100.0);
      hi = quantile(ob.sample, opt.percentile / 100.0);
    }
    q.low = std::min(lo, 0.0);
    q.high = std::max(hi, 0.0);
    choose_scale(q);
    q.quantized = true;
    arch["layers"][ob.node]["quantization"] = {{"input_scale", q.scale},
                                               {"input_zero_point", q.zero_point}};
  }
  Model qmodel = Model::from_json(arch, run.model_path);
  std::copy(model.values(), model.values() + model.arena_size(), qmodel.values());
  // Kernels on the int8 grid (the float values scale * q that quantize back to q); biases less
  // the mean output shift that this rounding gives on the calibration data.
  for (std::size_t o = 0; o < observers.size(); ++o) {
    const Observer& ob = observers[o];
    std::vector<Param>& params = qmodel.layer(ob.node).params();
    Param& kernel = params[0];
    const std::size_t n = kernel.shape.back(), k = kernel.size() / n;
    std::vector<std::int8_t> bq(k * n);
    std::vector<float> scale(n);
    detail::quantize_kernel(kernel.value, k, n, bq.data(), scale.data());
    const bool correct = !ob.row_sum.empty() && params.size() > 1 && params[1].name == "bias";
    const double rows = double(res.samples) * double(ob.rows_per_sample);
    std::vector<double> shift(n, 0.0);
    for (std::size_t i = 0; i < k * n; ++i) {
      const float on_grid = scale[i % n] * float(bq[i]);
      if (correct && rows > 0)
        shift[i % n] += (double(on_grid) - double(kernel.value[i])) * (ob.row_sum[i / n] / rows);
      kernel.value[i] = on_grid;
    }
    if (correct) {
      QuantizedLayer& q = res.layers[which[o]];
      q.bias_corrected = true;
      for (std::size_t j = 0; j < n; ++j) {
        params[1].value[j] = static_cast<float>(double(params[1].value[j]) - shift[j]);
        q.bias_shift = std::max(q.bias_shift, std::fabs(shift[j]));
      }
    }
  }
  qmodel.params_changed();
  res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  res.output = out.string();
  write_run(qmodel, run, opt.output, quantize_report_json(res, opt));
  return res;
}

json_ordered quantize_report_json(const QuantizeResult& r, const QuantizeOptions& opt) {
  json_ordered j;
  j["format"] = 1;
  j["method"] = opt.method;
  if (opt.method == "percentile") j["percentile"] = opt.percentile;
  j["calibration_data"] = opt.data;
  j["samples"] = r.samples;
  j["seed"] = opt.seed;
  j["bias_correction"] = opt.bias_correction;
  j["equalize"] = opt.equalize;
  json_ordered layers = json_ordered::array();
  for (const QuantizedLayer& q : r.layers) {
    json_ordered l;
    l["name"] = q.name;
    l["type"] = q.type;
    l["int8"] = q.quantized;
    if (q.quantized) {
      l["seen_min"] = q.seen_min;
      l["seen_max"] = q.seen_max;
      l["low"] = q.low;
      l["high"] = q.high;
      l["input_scale"] = q.scale;
      l["input_zero_point"] = q.zero_point;
      if (q.bias_corrected) l["bias_shift"] = q.bias_shift;
    } else {
      l["reason"] = q.reason;
    }
    if (!q.equalize_scale.empty()) l["equalize_scale"] = q.equalize_scale;
    layers.push_back(std::move(l));
  }
  j["layers"] = std::move(layers);
  return j;
}

}  // namespace cnn::train
