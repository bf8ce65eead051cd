// Model weights: bit-exact round trip, strict loads by name, partial loads for fine-tuning.
#include <doctest/doctest.h>

#include <cstring>

#include "io/architecture.hpp"
#include "io/safetensors.hpp"
#include "io/weights.hpp"
#include "temp_dir.hpp"

using namespace cnn;

namespace {
Model model(const std::string& name) {
  return io::load_model(std::string(CNN_SOURCE_DIR) + "/configs/models/" + name + ".json");
}
}  // namespace

TEST_CASE("weights round-trip bit-exactly, BatchNormalization statistics included") {
  test::TempDir dir;
  Model a = model("resnet_small");
  Rng rng(9);
  a.init_params(rng);
  for (std::size_t i = 0; i < a.arena_size(); i += 7) a.values()[i] = rng.uniform(-3, 3);
  io::save_weights(a, dir.path() + "/w.safetensors");
  Model b = model("resnet_small");
  io::load_weights(b, dir.path() + "/w.safetensors");
  REQUIRE(a.arena_size() == b.arena_size());
  CHECK(std::memcmp(a.values(), b.values(), a.arena_size() * sizeof(float)) == 0);
  const auto f = io::read_safetensors(dir.path() + "/w.safetensors");
  CHECK(f.metadata.at("format") == "cnn-weights");
  CHECK(f.metadata.at("architecture") == "resnet_small");
  CHECK(f.find("stem_bn.moving_variance") != nullptr);
  CHECK(f.find("stem_conv.kernel")->shape == Shape{3, 3, 1, 32});
}

TEST_CASE("weights of another architecture are refused by name and shape") {
  test::TempDir dir;
  Model a = model("mnist_convnet");
  io::save_weights(a, dir.path() + "/w.safetensors");
  Model gap = model("mnist_convnet_gap");
  try {
    io::load_weights(gap, dir.path() + "/w.safetensors");
    FAIL("no throw");
  } catch (const FormatError& e) {
    const std::string m = e.what();
    CHECK(m.find("w.safetensors") != std::string::npos);
    CHECK(m.find("'dense.kernel' has shape [576, 64], the architecture needs [64, 10]") !=
          std::string::npos);
  }
}

TEST_CASE("partial loads copy matching names and list the rest") {
  test::TempDir dir;
  Model base = model("mnist_convnet_base");
  Rng rng(4);
  base.init_params(rng);
  io::save_weights(base, dir.path() + "/base.safetensors");
  Model full = model("mnist_convnet_gap");
  const auto r = io::load_weights_partial(full, dir.path() + "/base.safetensors");
  CHECK(r.loaded.size() == 6);
  CHECK(r.initialised == std::vector<std::string>{"dense.kernel", "dense.bias"});
  CHECK(r.unused.empty());
  CHECK(std::memcmp(full.values(), base.values(), base.arena_size() * sizeof(float)) == 0);
  Model other = model("mnist_convnet");
  io::save_weights(other, dir.path() + "/full.safetensors");
  try {
    io::load_weights_partial(full, dir.path() + "/full.safetensors");
    FAIL("no throw");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find("give it another name") != std::string::npos);
  }
}
