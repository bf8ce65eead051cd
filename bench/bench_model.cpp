// bench_model: images per second of a model from an architecture JSON, training
// (Trainer::train_step) or inference (Model::forward), on batches held in memory; plus the
// process's peak resident memory. The C++ side of scripts/bench.py (make bench); prints JSON.
//
//   bench_model MODEL.json --mode train --batch 64 --data fashion-mnist:test   (real images)
//   bench_model MODEL.json --mode infer --batch 20                        (random inputs)
//   bench_model MODEL.json --mode check --check-input X.safetensors --check-output Y.safetensors
//               --save-weights W.safetensors
//
// Memory: "peak_rss_kib" is the process's peak resident set; "peak_rss_kib_before_steps" the
// same once the model, the optimizer and the batches are ready, before the first step.
// Timing: `--warmup` untimed steps (page faults, buffer planning, the thread pool's start), then
// `--runs` timed runs of `--steps` steps each; each run gives images/s = steps * batch / seconds.
// The steps cycle over `--data-batches` distinct batches prepared before any timing, so no step
// waits for input. Nothing here asserts a timing: the numbers are for reading.
//
// Check mode (equivalence with another implementation, before anything is timed): the weights
// are initialised from --seed (or loaded with --weights) and written with --save-weights; the
// tensor "input" [n, ...input shape] of --check-input goes through an inference forward, and the
// result is written as "output" to --check-output. When the model ends in a vector and the file
// also has "labels" [n] (class indices as floats), one training step on that batch follows, and
// its loss is printed ("first_step_loss"), and the output after that step is written as
// "output_after_step".
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/run_main.hpp"
#include "data/dataset.hpp"
#include "io/architecture.hpp"
#include "io/safetensors.hpp"
#include "io/weights.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"
#include "train/trainer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model_path, weights_path, save_weights_path;
  std::string mode = "train";
  std::size_t batch = 32, steps = 10, warmup = 3, runs = 3, data_batches = 16;
  std::string data = "random";
  std::string loss;  // empty: from the output size
  std::string optimizer = R"({"type": "RMSprop"})";
  std::string precision = "fp32";
  std::string check_input, check_output;
  int threads = 0;
  std::uint64_t seed = 0;
  bool quiet = false;
};

// Peak resident set size of this process so far, in KiB (Linux reports ru_maxrss in KiB).
long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? a + " " + b + " " + c : "unknown";
}

// In-memory batches: inputs [batch, ...input shape] and their labels.
struct Batches {
  std::vector<cnn::Tensor> x;
  std::vector<std::vector<std::int32_t>> labels;
  std::string description;
};

// The loss a model's output calls for, unless given: one unit -> binary_crossentropy, more ->
// sparse_categorical_crossentropy (labels are class indices either way).
std::string default_loss(const cnn::Model& model) {
  const cnn::Shape& out = model.output_shape();
  return out.size() == 1 && out[0] == 1 ? "binary_crossentropy" : "sparse_categorical_crossentropy";
}

// Number of label values: the output units, or 2 for a single sigmoid unit.
std::size_t label_classes(const cnn::Model& model) {
  const cnn::Shape& out = model.output_shape();
  const std::size_t k = out.size() == 1 ? out[0] : 1;
  return k == 1 ? 2 : k;
}

// `count` batches of uniform [0, 1) inputs and uniform labels, drawn from seed.
Batches random_batches(const cnn::Model& model, std::size_t batch, std::size_t count,
                       std::uint64_t seed) {
  Batches b;
  cnn::Rng rng(seed);
  const std::size_t classes = label_classes(model);
  for (std::size_t i = 0; i < count; ++i) {
    cnn::Tensor x(cnn::batch_shape(batch, model.input_shape()));
    for (float& v : x) v = rng.uniform();
    std::vector<std::int32_t> y(batch);
    for (auto& v : y) v = static_cast<std::int32_t>(rng.below(classes));
    b.x.push_back(std::move(x));
    b.labels.push_back(std::move(y));
  }
  b.description =
      "random uniform [0, 1) inputs and labels, " + std::to_string(count) + " batches in memory";
  return b;
}

// The first count * batch samples of a dataset spec (e.g. fashion-mnist:train), decoded and
// rescaled by the library's own dataset code before any timing.
Batches dataset_batches(const cnn::Model& model, const std::string& spec, std::size_t batch,
                        std::size_t count) {
  cnn::data::DatasetOptions opt;
  opt.class_mode = cnn::data::ClassMode::sparse;
  const auto ds = cnn::data::open_dataset(spec, opt);
  if (ds->sample_shape() != model.input_shape())
    throw cnn::DataError(spec, "samples have shape " + cnn::shape_str(ds->sample_shape()) +
                                   ", the model '" + model.name() + "' takes " +
                                   cnn::shape_str(model.input_shape()));
  if (ds->size() < count * batch)
    throw cnn::DataError(spec, "has " + std::to_string(ds->size()) +
                                   " samples; expected at least " + std::to_string(count * batch) +
                                   " (--data-batches x --batch)");
  Batches b;
  const std::size_t per = ds->sample_numel();
  for (std::size_t i = 0; i < count; ++i) {
    cnn::Tensor x(cnn::batch_shape(batch, model.input_shape()));
    std::vector<std::int32_t> y(batch);
    for (std::size_t j = 0; j < batch; ++j) ds->load(i * batch + j, x.data() + j * per, y[j], 0);
    b.x.push_back(std::move(x));
    b.labels.push_back(std::move(y));
  }
  b.description =
      spec + ", the first " + std::to_string(count * batch) + " samples decoded into memory";
  return b;
}

cnn::Model build_model(const Options& o) {
  cnn::Model model = cnn::io::load_model(o.model_path);
  if (!o.weights_path.empty()) {
    cnn::io::load_weights(model, o.weights_path);
  } else {
    cnn::Rng rng(o.seed);
    model.init_params(rng);
  }
  if (!o.save_weights_path.empty()) cnn::io::save_weights(model, o.save_weights_path);
  return model;
}

cnn::train::TrainerOptions trainer_options(const Options& o, const cnn::Model& model) {
  cnn::train::TrainerOptions t;
  t.loss = o.loss.empty() ? default_loss(model) : o.loss;
  t.precision =
      o.precision == "bf16" ? cnn::kernels::Precision::Bf16 : cnn::kernels::Precision::Fp32;
  try {
    t.optimizer = cnn::train::parse_optimizer(cnn::json::parse(o.optimizer), "--optimizer");
  } catch (const cnn::json::parse_error& e) {
    throw CLI::ValidationError("--optimizer", std::string("not valid JSON: ") + e.what());
  }
  return t;
}

int run_check(const Options& o) {
  if (o.check_input.empty() || o.check_output.empty())
    throw CLI::ValidationError("--mode check", "needs --check-input and --check-output");
  cnn::Model model = build_model(o);
  const cnn::io::SafetensorsFile in = cnn::io::read_safetensors(o.check_input);
  const cnn::io::SafeTensor* xt = in.find("input");
  if (!xt) throw cnn::DataError(o.check_input, "has no tensor 'input'");
  if (xt->shape.size() != model.input_shape().size() + 1 ||
      !std::equal(model.input_shape().begin(), model.input_shape().end(), xt->shape.begin() + 1))
    throw cnn::DataError(o.check_input, "tensor 'input' has shape " + cnn::shape_str(xt->shape) +
                                            "; expected [n, " +
                                            cnn::shape_str(model.input_shape()) + "]");
  cnn::Tensor x(xt->shape);
  in.read_f32(*xt, x.data(), x.size());

  cnn::Context ctx;
  cnn::Rng rng(o.seed);
  ctx.rng = &rng;
  ctx.training = false;
  ctx.output_only = true;                         // as cnn-eval runs it
  const cnn::Tensor out = model.forward(ctx, x);  // a copy: the next forward reuses the buffer
  std::vector<cnn::io::TensorView> views = {{"output", cnn::shape_of(out), out.data()}};

  std::optional<double> first_loss;
  cnn::Tensor after;
  const cnn::io::SafeTensor* yt = in.find("labels");
  if (yt && model.output_shape().size() == 1) {
    const std::vector<float> yf = in.read_f32(*yt);
    std::vector<std::int32_t> y;
    for (float v : yf) y.push_back(static_cast<std::int32_t>(std::lround(v)));
    cnn::train::Trainer trainer(model, trainer_options(o, model), o.seed);
    first_loss = trainer.train_step(x, y).loss();
    trainer.predict(x, after);
    views.push_back({"output_after_step", cnn::shape_of(after), after.data()});
  }
  cnn::io::write_safetensors(o.check_output, views);
  cnn::json_ordered result = {{"model", model.name()},
                              {"mode", "check"},
                              {"params", model.param_count()},
                              {"output_shape", cnn::shape_of(out)}};
  if (first_loss) result["first_step_loss"] = *first_loss;
  std::cout << result.dump() << "\n";
  return 0;
}

int run_timing(const Options& o) {
  const bool train = o.mode == "train";
  cnn::Model model = build_model(o);
  Batches data;
  if (o.data == "random") {
    data = random_batches(model, o.batch, o.data_batches, o.seed + 1);
  } else {
    data = dataset_batches(model, o.data, o.batch, o.data_batches);
  }
  std::unique_ptr<cnn::train::Trainer> trainer;
  if (train)
    trainer = std::make_unique<cnn::train::Trainer>(model, trainer_options(o, model), o.seed);
  cnn::Context ctx;
  cnn::Rng rng(o.seed);
  ctx.rng = &rng;
  ctx.training = false;
  ctx.output_only = true;  // as cnn-eval runs it

  std::size_t next = 0;
  double last_loss = 0;
  auto step = [&] {
    const std::size_t i = next++ % data.x.size();
    if (train) {
      last_loss = trainer->train_step(data.x[i], data.labels[i]).loss();
    } else {
      model.forward(ctx, data.x[i]);
    }
  };
  if (!o.quiet)
    std::cerr << "bench_model: " << model.name() << " " << o.mode << ", batch " << o.batch << ", "
              << o.warmup << " warm-up steps, " << o.runs << " runs of " << o.steps << " steps, "
              << cnn::kernels::num_threads() << " threads, load average " << loadavg() << "\n";
  const long rss_before_steps = peak_rss_kib();
  for (std::size_t i = 0; i < o.warmup; ++i) step();
  const double first_loss = last_loss;
  std::vector<double> ips;
  for (std::size_t r = 0; r < o.runs; ++r) {
    const auto t0 = Clock::now();
    for (std::size_t s = 0; s < o.steps; ++s) step();
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    ips.push_back(double(o.steps * o.batch) / sec);
    if (!o.quiet) std::cerr << "bench_model: run " << r + 1 << ": " << ips.back() << " images/s\n";
  }
  cnn::json_ordered result = {{"side", "cnn"},
                              {"model", model.name()},
                              {"mode", o.mode},
                              {"batch", o.batch},
                              {"steps", o.steps},
                              {"warmup", o.warmup},
                              {"threads", cnn::kernels::num_threads()},
                              {"isa", cnn::kernels::isa_name(cnn::kernels::active_isa())},
                              {"params", model.param_count()},
                              {"data", data.description},
                              {"images_per_s", ips},
                              {"peak_rss_kib", peak_rss_kib()},
                              {"peak_rss_kib_before_steps", rss_before_steps}};
  if (train) {
    result["loss_after_warmup"] = first_loss;
    result["loss_last"] = last_loss;
  }
  std::cout << result.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Time training steps or inference forwards of a model on in-memory batches (for make "
      "bench); prints one JSON object.\n\nExamples:\n"
      "  bench_model configs/models/mnist_convnet.json --mode train --batch 64 "
      "--data fashion-mnist:train\n"
      "  bench_model configs/models/vgg16_notop.json --mode infer --batch 20 --steps 1",
      "bench_model"};
  app.add_option("model", o.model_path, "Architecture JSON")->required();
  app.add_option("--mode", o.mode, "train, infer or check")
      ->check(CLI::IsMember({"train", "infer", "check"}))
      ->capture_default_str();
  app.add_option("--weights", o.weights_path,
                 "Load these weights (default: initialise from --seed)");
  app.add_option("--save-weights", o.save_weights_path, "Write the weights used to this file");
  app.add_option("--batch", o.batch, "Batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps", o.steps, "Steps per timed run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "Untimed steps first")->capture_default_str();
  app.add_option("--runs", o.runs, "Timed runs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--data", o.data,
                 "random, or a dataset spec such as fashion-mnist:train (samples decoded into "
                 "memory before timing)")
      ->capture_default_str();
  app.add_option("--data-batches", o.data_batches, "Distinct batches held in memory and cycled")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--loss", o.loss,
                 "Training loss (default: binary_crossentropy for one output unit, else "
                 "sparse_categorical_crossentropy)");
  app.add_option("--optimizer", o.optimizer, "Optimizer as JSON (Keras names and defaults)")
      ->capture_default_str();
  app.add_option("--check-input", o.check_input,
                 "Check mode: safetensors file with 'input' (and 'labels')");
  app.add_option("--check-output", o.check_output, "Check mode: write 'output' here");
  app.add_option("--precision", o.precision, "Training steps' matrix products: fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Worker threads (0: all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the weights and the random data")
      ->capture_default_str();
  app.add_flag("-q,--quiet", o.quiet, "No progress on stderr");

  // run_main maps errors to the programs' exit codes (2 usage, 3 bad input, 1 other failures).
  return cnn::cmd::run_main(app, argc, argv, [&] {
    cnn::kernels::set_num_threads(o.threads);
    return o.mode == "check" ? run_check(o) : run_timing(o);
  });
}
