// Feature extraction and fine-tuning helpers: pooling equals the Keras pooling layers, output
// formats by name, weights loaded by name into a cut model with a new head, and the errors of
// weights that do not fit.
#include <doctest/doctest.h>

#include <cmath>

#include "../io/temp_dir.hpp"
#include "data/dataset.hpp"
#include "io/architecture.hpp"
#include "io/record_stream.hpp"
#include "io/weights.hpp"
#include "model/surgery.hpp"
#include "train/extract.hpp"
#include "train/finetune.hpp"

using namespace cnn;
using namespace cnn::train;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const char* kTiny = R"({"name": "tiny", "input_shape": [6, 6, 2], "layers": [
    {"type": "Conv2D", "filters": 3, "kernel_size": 3, "activation": "relu"},
    {"type": "Flatten"}, {"type": "Dense", "units": 4, "activation": "softmax"}]})";

}  // namespace

TEST_CASE("feature pooling equals GlobalAveragePooling2D, GlobalMaxPooling2D and Flatten") {
  const json arch = json::parse(R"({"name": "p", "input_shape": [5, 3, 4], "layers": [
      {"type": "GlobalAveragePooling2D", "name": "avg"},
      {"type": "GlobalMaxPooling2D", "name": "max", "inputs": "input_1"},
      {"type": "Flatten", "name": "flat", "inputs": "input_1"},
      {"type": "Concatenate", "inputs": ["avg", "max", "flat"]}]})");
  Model m = Model::from_json(arch, "p.json");
  Tensor x = xt::zeros<float>(std::vector<std::size_t>{2, 5, 3, 4});
  Rng rng(5);
  for (auto& v : x) v = rng.uniform(-3.0f, 3.0f);
  Context ctx;
  m.forward(ctx, x);
  const std::pair<FeaturePool, const char*> cases[] = {
      {FeaturePool::avg, "avg"}, {FeaturePool::max, "max"}, {FeaturePool::flatten, "flat"}};
  for (const auto& [pool, layer] : cases) {
    std::vector<float> got;
    pool_features(x, pool, got);
    const Tensor& want = m.output_of(*m.find(layer));
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      CHECK(got[i] == doctest::Approx(want.data()[i]).epsilon(1e-6));
    CHECK(pooled_shape({5, 3, 4}, pool, layer) == m.node(*m.find(layer)).out_shape);
  }
  std::vector<float> same;
  pool_features(x, FeaturePool::none, same);
  CHECK(same.size() == x.size());
  CHECK(pooled_shape({5, 3, 4}, FeaturePool::none, "l") == Shape{5, 3, 4});
  CHECK_THROWS_WITH_AS(pooled_shape({256}, FeaturePool::avg, "dense"),
                       doctest::Contains("layer 'dense': --pool avg needs an output of shape"),
                       ShapeError);
}

TEST_CASE("feature output formats and names") {
  CHECK(feature_format("-") == FeatureFormat::record_stream);
  CHECK(feature_format("a/b.cnnrec") == FeatureFormat::record_stream);
  CHECK(feature_format("feats.npy") == FeatureFormat::npy);
  CHECK(feature_format("feats.csv") == FeatureFormat::csv);
  CHECK_FALSE(feature_format("feats.txt"));
  CHECK(npy_labels_path("out/feats.npy") == "out/feats.labels.npy");
  CHECK(npy_meta_path("feats.npy") == "feats.meta.json");
  CHECK(parse_feature_pool("avg") == FeaturePool::avg);
  CHECK_FALSE(parse_feature_pool("mean"));
}

TEST_CASE("base weights load by name into a cut model with a new head") {
  test::TempDir dir;
  Model base = io::parse_model(kTiny, "tiny.json");
  Rng rng(9);
  base.init_params(rng);
  io::save_weights(base, dir.file("tiny.safetensors"));

  const json_ordered cut = cut_architecture(base, *base.find("flatten"));
  Model m = compose(cut, parse_head_spec("dense:2:softmax"), "tiny.json", "--head");
  // The head is named "dense", like the base's cut-off classifier, whose [12, 4] kernel the file
  // holds: a new layer with an old name must fit or be renamed.
  CHECK_THROWS_WITH_AS(load_base_weights(m, dir.file("tiny.safetensors"), {"conv2d", "flatten"}),
                       doctest::Contains("give it another name so it is initialised instead"),
                       FormatError);
  Model h = compose(cut, json::parse(R"([{"type": "Dense", "units": 2, "activation": "softmax",
                                          "name": "head"}])"),
                    "tiny.json", "head.json");
  Rng init(1);
  h.init_params(init);
  const auto r = load_base_weights(h, dir.file("tiny.safetensors"), {"conv2d", "flatten"});
  CHECK(r.loaded == std::vector<std::string>{"conv2d.kernel", "conv2d.bias"});
  CHECK(r.initialised == std::vector<std::string>{"head.kernel", "head.bias"});
  CHECK(r.unused.size() == 2);  // the cut-off classifier
  auto bp = base.named_params();
  auto hp = h.named_params();
  CHECK(
      std::equal(bp[0].param->value, bp[0].param->value + bp[0].param->size(), hp[0].param->value));

  // Weights of another model: the base layer and the tensor are named.
  const Model other_arch = io::parse_model(
      R"({"name": "other", "input_shape": [6, 6, 3], "layers": [
          {"type": "Conv2D", "filters": 3, "kernel_size": 3}]})",
      "other.json");
  Model other = io::parse_model(other_arch.to_json().dump(), "other.json");
  other.init_params(rng);
  io::save_weights(other, dir.file("other.safetensors"));
  CHECK_THROWS_WITH_AS(load_base_weights(h, dir.file("other.safetensors"), {"conv2d"}),
                       doctest::Contains("other.safetensors@"), FormatError);
  CHECK_THROWS_WITH_AS(
      load_base_weights(h, dir.file("other.safetensors"), {"conv2d"}),
      doctest::Contains("layer 'conv2d': tensor 'conv2d.kernel' has shape [3, 3, 3, 3], the model "
                        "'tiny' needs [3, 3, 2, 3]"),
      FormatError);
  // A base tensor missing from the file.
  Model lone = io::parse_model(R"({"name": "lone", "input_shape": [6, 6, 2], "layers": [
      {"type": "Conv2D", "filters": 3, "kernel_size": 3, "name": "conv_x"}]})",
                               "lone.json");
  try {
    load_base_weights(lone, dir.file("tiny.safetensors"), {"conv_x"});
    FAIL("no error");
  } catch (const FormatError& e) {
    CHECK(
        contains(e.what(), "tiny.safetensors: layer 'conv_x': tensor 'conv_x.kernel' is missing"));
  }
}

TEST_CASE("record streams carry feature vectors ([k] records) to a dataset") {
  test::TempDir dir;
  io::RecordHeader h;
  h.shape = {5};
  h.classes = {"cats", "dogs"};
  h.count = 2;
  {
    io::RecordWriter w(dir.file("f.cnnrec"), h);
    const float a[5] = {1, 2, 3, 4, 5}, b[5] = {-1, 0.5f, 0, 0, 9};
    w.write(1, a);
    w.write(0, b);
    w.finish();
  }
  data::DatasetOptions o;
  const auto ds = data::open_dataset(dir.file("f.cnnrec"), o);
  CHECK(ds->sample_shape() == Shape{5});
  CHECK(ds->size() == 2);
  std::vector<float> x(5);
  std::int32_t label = -1;
  ds->load(1, x.data(), label, 0);
  CHECK(label == 0);
  CHECK(x == std::vector<float>{-1, 0.5f, 0, 0, 9});
  h.shape = {2, 5};  // neither an image nor a vector
  CHECK_THROWS_AS(io::RecordWriter(dir.file("g.cnnrec"), h), DataError);
  CHECK_THROWS_WITH_AS(
      io::parse_header_json(R"({"shape": [2, 5], "dtype": "float32", "label": "int32",
      "classes": ["a"], "class_mode": "sparse", "count": 1})",
                            "x", 16),
      doctest::Contains("'shape' must be [height, width, channels] or [features]"), FormatError);
}
