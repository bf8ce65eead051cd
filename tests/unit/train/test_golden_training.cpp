// The golden training test: three RMSprop steps of the lecture's mnist_convnet from fixed weights
// on real Fashion-MNIST images, against PyTorch's values for the same steps
// (tests/golden/training/mnist_convnet_rmsprop.json, written once by
// scripts/golden_training.py, which says what the file holds). Compared: the loss of each step,
// every parameter tensor's gradient in each step (norms, largest value, four sign projections,
// sampled values) and what the three steps changed in the weights. The whole path is ours: Model,
// the layers' forward and backward (Winograd, im2col, fused activations, pooling), the loss from
// logits, and the optimizer. And that the loss is a stage of its own (Context::logits).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "io/architecture.hpp"
#include "io/idx.hpp"
#include "shared_data.hpp"
#include "train/trainer.hpp"

using namespace cnn;

namespace {

const std::string kFashion = "/usr/share/datasets/fashion-mnist/";

// The hash and the fixed weights of scripts/golden_training.py, computed the same way.
std::uint64_t hash32(std::uint64_t i, std::uint64_t salt) {
  const std::uint64_t m = 0xFFFFFFFFu;
  std::uint64_t h = (i + salt * 0x9E3779B9u) & m;
  h ^= h >> 16;
  h = (h * 0x85EBCA6Bu) & m;
  h ^= h >> 13;
  h = (h * 0xC2B2AE35u) & m;
  return h ^ (h >> 16);
}

// Glorot's limit from the kernel's shape ([kh, kw, in, out] or [in, out]); 0.1 for biases.
void fill_fixed(Param& p, std::uint64_t t) {
  double limit = 0.1;
  if (p.shape.size() >= 2) {
    const double receptive = p.shape.size() == 4 ? double(p.shape[0] * p.shape[1]) : 1.0;
    const double fan_in = receptive * double(p.shape[p.shape.size() - 2]);
    const double fan_out = receptive * double(p.shape.back());
    limit = std::sqrt(6.0 / (fan_in + fan_out));
  }
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double u = double(hash32(i, t + 1)) / 4294967296.0;
    p.value[i] = static_cast<float>((2.0 * u - 1.0) * limit);
  }
}

// Relative tolerances, about 15 times the largest differences measured when the test was written
// (AVX-512 kernels with Winograd: loss 2.8e-7, norms 3.2e-6, a projection or a sampled value
// 7.6e-6 of its tensor's scale; the reference kernels: 0.8e-7, 1.3e-6, 4.6e-6). Making RMSprop's
// mean square 1% larger fails 354 of the checks.
constexpr double kLossTolerance = 5e-6;
constexpr double kNormTolerance = 5e-5;
constexpr double kValueTolerance = 1e-4;

void check_stats(const std::string& what, const float* v, std::size_t n, const json& ref) {
  CAPTURE(what);
  double l1 = 0, l2 = 0, max_abs = 0;
  for (std::size_t i = 0; i < n; ++i) {
    l1 += std::fabs(double(v[i]));
    l2 += double(v[i]) * double(v[i]);
    max_abs = std::max(max_abs, std::fabs(double(v[i])));
  }
  l2 = std::sqrt(l2);
  const double ref_l1 = ref.at("l1").get<double>(), ref_max = ref.at("max_abs").get<double>();
  CHECK(std::fabs(l1 - ref_l1) <= kNormTolerance * ref_l1);
  CHECK(std::fabs(l2 - ref.at("l2").get<double>()) <= kNormTolerance * ref.at("l2").get<double>());
  CHECK(std::fabs(max_abs - ref_max) <= kNormTolerance * ref_max);
  const json& projections = ref.at("projections");
  for (std::size_t k = 0; k < projections.size(); ++k) {
    double p = 0;
    for (std::size_t i = 0; i < n; ++i)
      p += (hash32(i, 1000 + k) >> 31 ? 1.0 : -1.0) * double(v[i]);
    CHECK_MESSAGE(std::fabs(p - projections[k].get<double>()) <= kValueTolerance * ref_l1,
                  "projection " << k << ": ours " << p << ", PyTorch " << projections[k]);
  }
  for (const json& s : ref.at("samples")) {
    const std::size_t i = s.at(0).get<std::size_t>();
    REQUIRE(i < n);
    CHECK_MESSAGE(std::fabs(double(v[i]) - s.at(1).get<double>()) <= kValueTolerance * ref_max,
                  "[" << i << "]: ours " << v[i] << ", PyTorch " << s.at(1));
  }
}

}  // namespace

TEST_CASE("three RMSprop steps of mnist_convnet match PyTorch's losses, gradients and weights") {
  if (!test::have_data(kFashion + "train-labels-idx1-ubyte.gz")) return;
  const json golden = io::read_json(std::string(CNN_SOURCE_DIR) +
                                    "/tests/golden/training/mnist_convnet_rmsprop.json");
  const std::size_t batch = golden.at("batch").get<std::size_t>();
  const json& steps = golden.at("steps");

  Model model = io::load_model(std::string(CNN_SOURCE_DIR) + "/configs/models/mnist_convnet.json");
  std::uint64_t t = 0;
  for (auto& np : model.named_params()) fill_fixed(*np.param, t++);
  train::TrainerOptions options;
  train::RmspropConfig rmsprop;
  rmsprop.learning_rate = golden.at("learning_rate").get<double>();
  rmsprop.rho = golden.at("rho").get<double>();
  rmsprop.epsilon = golden.at("epsilon").get<double>();
  options.optimizer = rmsprop;
  train::Trainer trainer(model, options, 1);

  const io::IdxArray images = io::read_idx(kFashion + "train-images-idx3-ubyte.gz");
  const io::IdxArray labels = io::read_idx(kFashion + "train-labels-idx1-ubyte.gz");
  for (std::size_t k = 0; k < steps.size(); ++k) {
    CAPTURE(k);
    Tensor x;
    ensure_shape(x, {batch, 28, 28, 1});
    std::vector<std::int32_t> y(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      const std::size_t sample = k * batch + i;
      for (std::size_t p = 0; p < 784; ++p)
        x.data()[i * 784 + p] = static_cast<float>(images.data[sample * 784 + p] / 255.0);
      y[i] = labels.data[sample];
    }
    const train::PassStats stats = trainer.train_step(x, y);
    const double loss = steps[k].at("loss").get<double>();
    CHECK_MESSAGE(std::fabs(stats.loss() - loss) <= kLossTolerance * loss,
                  "loss: ours " << stats.loss() << ", PyTorch " << loss);
    for (auto& np : model.named_params())
      check_stats("gradient of " + np.name, np.param->grad, np.param->size(),
                  steps[k].at("gradients").at(np.name));
  }
  // What the three steps changed: the weights now less the fixed ones.
  t = 0;
  for (auto& np : model.named_params()) {
    std::vector<float> after(np.param->value, np.param->value + np.param->size());
    fill_fixed(*np.param, t++);
    for (std::size_t i = 0; i < after.size(); ++i) after[i] -= np.param->value[i];
    check_stats("update of " + np.name, after.data(), after.size(),
                golden.at("update").at(np.name));
  }
}

TEST_CASE("the loss is a stage of its own: training from logits leaves the model as it was") {
  Model model = io::load_model(std::string(CNN_SOURCE_DIR) + "/tests/data/tiny_convnet.json");
  Rng rng(3);
  model.init_params(rng);
  const std::size_t last = model.size() - 1;
  REQUIRE(model.layer(last).activation() == kernels::Act::Softmax);
  Tensor x;
  ensure_shape(x, {4, 28, 28, 1});
  for (float& v : x) v = rng.uniform();
  Context plain;
  const Tensor probabilities = model.forward(plain, x);

  train::Trainer trainer(model, {}, 1);
  CHECK(model.layer(last).activation() == kernels::Act::Softmax);  // not switched off
  CHECK(model.to_json().dump().find("softmax") != std::string::npos);
  Tensor from_trainer;
  trainer.predict(x, from_trainer);
  // A forward that asks for logits stops before the softmax of the output node alone.
  Context logits_ctx;
  logits_ctx.logits = true;
  const Tensor logits = model.forward(logits_ctx, x);
  CHECK(logits_ctx.logits);  // the caller's value back
  for (std::size_t i = 0; i < 4; ++i) {
    double sum = 0, max = -1e30;
    for (std::size_t c = 0; c < 10; ++c) max = std::max(max, double(logits(i, c)));
    for (std::size_t c = 0; c < 10; ++c) sum += std::exp(double(logits(i, c)) - max);
    for (std::size_t c = 0; c < 10; ++c) {
      const double softmax = std::exp(double(logits(i, c)) - max) / sum;
      CHECK(std::fabs(softmax - probabilities(i, c)) < 1e-6);
      CHECK(std::fabs(from_trainer(i, c) - probabilities(i, c)) < 1e-6);
    }
  }
  // And a plain forward after training steps still ends in the softmax.
  const std::vector<std::int32_t> labels = {0, 1, 2, 3};
  trainer.train_step(x, labels);
  const Tensor after = model.forward(plain, x);
  for (std::size_t i = 0; i < 4; ++i) {
    double sum = 0;
    for (std::size_t c = 0; c < 10; ++c) sum += after(i, c);
    CHECK(std::fabs(sum - 1.0) < 1e-5);
  }
}
