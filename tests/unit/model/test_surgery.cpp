// Model surgery: cutting (sequential and DAG), head specs and files, composing with unique
// Keras names, freezing counts of the lecture's VGG16 fine-tuning, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/architecture.hpp"
#include "model/summary.hpp"
#include "model/surgery.hpp"
#include "tensor/rng.hpp"

using namespace cnn;

namespace {

std::string config(const std::string& name) {
  return std::string(CNN_SOURCE_DIR) + "/configs/models/" + name + ".json";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Model build(const json_ordered& arch) {
  return Model::from_json(json::parse(arch.dump()), "cut.json");
}

std::string spec_error(const std::string& spec) {
  try {
    parse_head_spec(spec);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cutting VGG16 at block4_pool keeps blocks 1 to 4") {
  const Model vgg = io::load_model(config("vgg16_notop"));
  const std::size_t at = require_layer(vgg, "block4_pool", "--cut-at", "vgg16.json");
  const json_ordered arch = cut_architecture(vgg, at);
  CHECK(arch.at("name") == "vgg16");
  CHECK(arch.at("input_shape") == json_ordered::array({150, 150, 3}));
  const Model cut = build(arch);
  CHECK(cut.size() == 14);
  CHECK(cut.output_shape() == Shape{9, 9, 512});
  CHECK(cut.param_count() == 14714688 - 3 * (3 * 3 * 512 * 512 + 512));
  CHECK(cut.is_sequential());
  // Cutting at the last layer changes nothing.
  const Model same = build(cut_architecture(vgg, vgg.size() - 1));
  CHECK(same.to_json() == vgg.to_json());
}

TEST_CASE("cutting a DAG keeps exactly the ancestors, and computes the same outputs") {
  Model inc = io::load_model(config("inception_small"));
  const std::size_t at = require_layer(inc, "mixed1_concat", "--layer", "inception.json");
  Model cut = build(cut_architecture(inc, at));
  // The stem and the four branches (each conv a Conv2D -> BatchNormalization -> relu triple:
  // 3, 3, 6, 9 and pool + 3) and the concatenation.
  CHECK(cut.size() == 26);
  CHECK(cut.output_shape() == inc.node(at).out_shape);
  for (const char* gone : {"reduce_3x3", "mixed2_concat", "gap"}) CHECK_FALSE(cut.find(gone));

  // One branch only: stem -> reduce -> 3x3; the implied inputs stay implied.
  const Model branch = build(cut_architecture(inc, *inc.find("mixed1_3x3")));
  REQUIRE(branch.size() == 9);
  CHECK(branch.node(3).layer->name() == "mixed1_3x3_reduce_conv");
  CHECK(branch.is_sequential());
  // A layer whose input is no longer the previous kept layer names it explicitly.
  const json_ordered arch = cut_architecture(inc, at);
  CHECK_FALSE(arch.at("layers").at(3).contains("inputs"));  // mixed1_1x1_conv reads stem_relu
  CHECK(arch.at("layers").at(6).at("name") == "mixed1_3x3_reduce_conv");
  CHECK(arch.at("layers").at(6).at("inputs") == "stem_relu");
  CHECK(build(cut_architecture(inc, *inc.find("mixed1_pool_proj"))).is_sequential());

  // The cut model's output equals the full model's intermediate output, weights copied by name.
  Rng rng(7);
  inc.init_params(rng);
  auto full = inc.named_params();
  for (auto& p : cut.named_params()) {
    auto it =
        std::find_if(full.begin(), full.end(), [&](const auto& q) { return q.name == p.name; });
    REQUIRE(it != full.end());
    std::copy(it->param->value, it->param->value + p.param->size(), p.param->value);
  }
  Tensor x = xt::zeros<float>(std::vector<std::size_t>{2, 28, 28, 1});
  Rng data_rng(3);
  for (auto& v : x) v = static_cast<float>(data_rng.uniform());
  Context ctx;
  inc.forward(ctx, x);
  const Tensor& want = inc.output_of(at);
  const Tensor& got = cut.forward(ctx, x);
  REQUIRE(got.size() == want.size());
  float diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    diff = std::max(diff, std::fabs(got.data()[i] - want.data()[i]));
  CHECK(diff == 0.0f);
}

TEST_CASE("an unknown layer name gets one sentence with the nearest names") {
  const Model vgg = io::load_model(config("vgg16_notop"));
  try {
    require_layer(vgg, "block5_conv0", "--unfreeze-from", "vgg16.json");
    FAIL("no error");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK(
        contains(m, "vgg16.json: --unfreeze-from: no layer named 'block5_conv0' in model 'vgg16'"));
    CHECK(contains(m, "did you mean 'block5_conv1'?"));
    CHECK(contains(m, "nearby names: block5_conv1, block5_conv2, block5_conv3"));
    CHECK(contains(m, "(18 layers in all)"));
    CHECK(m.find('\n') == std::string::npos);
  }
  CHECK(nearby_layer_names(vgg, "block2_pool", 2) ==
        std::vector<std::string>{"block2_pool", "block1_pool"});
}

TEST_CASE("head specs parse into Keras layers") {
  const json h = parse_head_spec("dense:256, dropout:0.5,dense:1:sigmoid");
  REQUIRE(h.size() == 3);
  CHECK(h[0] == json{{"type", "Dense"}, {"units", 256}, {"activation", "relu"}});
  CHECK(h[1] == json{{"type", "Dropout"}, {"rate", 0.5}});
  CHECK(h[2] == json{{"type", "Dense"}, {"units", 1}, {"activation", "sigmoid"}});
  const json p = parse_head_spec("avg,batchnorm,dense:10:softmax");
  CHECK(p[0].at("type") == "GlobalAveragePooling2D");
  CHECK(p[1].at("type") == "BatchNormalization");
  CHECK(head_starts_with_pooling(p));
  CHECK_FALSE(head_starts_with_pooling(h));
  CHECK(parse_head_spec("flatten,dense:3:linear")[0].at("type") == "Flatten");
  CHECK(parse_head_spec("max,dense:3:softmax")[0].at("type") == "GlobalMaxPooling2D");
}

TEST_CASE("bad head specs name the item and what was expected") {
  CHECK(contains(spec_error("dens:3"), "--head: item 1 'dens:3': unknown layer 'dens'"));
  CHECK(contains(spec_error("dens:3"), "did you mean 'dense'?"));
  CHECK(contains(spec_error("dense:x,dense:1:sigmoid"),
                 "item 1 'dense:x': expected a whole number of units"));
  CHECK(contains(spec_error("dense:0:relu"), "expected a whole number of units >= 1"));
  CHECK(contains(spec_error("dense:4,dropout:1.5,dense:1:sigmoid"),
                 "item 2 'dropout:1.5': expected a rate in [0, 1)"));
  CHECK(contains(spec_error("dense:10"), "the last Dense layer needs its activation"));
  CHECK(contains(spec_error("dense:10:sigmod"), "unknown activation 'sigmod'"));
  CHECK(contains(spec_error("dense:4,,dense:1:sigmoid"), "item 2 '': empty item"));
  CHECK(contains(spec_error("flatten:2,dense:1:sigmoid"), "flatten without arguments"));
  CHECK(
      contains(spec_error("dense:1:sigmoid:x"), "expected dense:UNITS or dense:UNITS:ACTIVATION"));
}

TEST_CASE("the lecture's VGG16 fine-tuning counts: total, frozen base, block5 unfrozen") {
  const Model vgg = io::load_model(config("vgg16_notop"));
  const json_ordered base = cut_architecture(vgg, vgg.size() - 1);
  json head = parse_head_spec("dense:256,dense:1:sigmoid");
  head.insert(head.begin(), pooling_layer("flatten"));
  Model m = compose(base, head, "vgg16.json", "--head");
  CHECK(m.param_count() == 16812353);
  CHECK(m.trainable_param_count() == 16812353);
  REQUIRE(m.size() == 21);
  CHECK(m.node(18).layer->name() == "flatten");
  CHECK(m.node(19).layer->name() == "dense");
  CHECK(m.node(20).layer->name() == "dense_1");
  freeze_layers(m, layer_names(base));
  CHECK(m.trainable_param_count() == 2097665);
  CHECK_FALSE(m.node(0).layer->trainable());
  CHECK(m.node(20).layer->trainable());
  unfreeze_from(m, *m.find("block5_conv1"));
  CHECK(m.trainable_param_count() == 9177089);
  CHECK_FALSE(m.node(*m.find("block4_pool")).layer->trainable());
  // The freezing is recorded in the architecture and survives a rebuild.
  const Model again = Model::from_json(json::parse(m.to_json().dump()), "model.json");
  CHECK(again.trainable_param_count() == 9177089);
  CHECK(contains(summary_text(again), "Trainable params: 9,177,089"));
  set_all_trainable(m, true);
  CHECK(m.trainable_param_count() == 16812353);
}

TEST_CASE("new head layers get Keras names unique against the base") {
  const Model mnist = io::load_model(config("mnist_convnet"));  // has flatten, dense, dense_1
  Model m = compose(cut_architecture(mnist, mnist.size() - 1),
                    json::parse(R"([{"type": "Dense", "units": 5, "activation": "softmax"}])"),
                    "mnist.json", "head.json");
  CHECK(m.node(m.size() - 1).layer->name() == "dense_2");
  CHECK(m.output_shape() == Shape{5});
  // Cut at flatten: the names of the layers cut off are reserved (their tensors are in the
  // base's weights file), unless the caller frees them.
  const json_ordered flat = cut_architecture(mnist, *mnist.find("flatten"));
  Model c = compose(flat, parse_head_spec("dense:7:relu,dense:7:softmax"), "mnist.json", "--head",
                    {"dense", "dense_1"});
  CHECK(c.node(c.size() - 2).layer->name() == "dense_2");
  CHECK(c.node(c.size() - 1).layer->name() == "dense_3");
  Model free = compose(flat, parse_head_spec("dense:7:softmax"), "mnist.json", "--head");
  CHECK(free.node(free.size() - 1).layer->name() == "dense");
  // A head layer may read any kept layer by name.
  Model skip = compose(cut_architecture(mnist, *mnist.find("conv2d_1")),
                       json::parse(R"([{"type": "GlobalAveragePooling2D", "inputs": "conv2d_1"},
                                       {"type": "Dense", "units": 2, "activation": "softmax"}])"),
                       "mnist.json", "head.json");
  CHECK(skip.output_shape() == Shape{2});
}

TEST_CASE("errors in a head are reported against the head") {
  const Model mnist = io::load_model(config("mnist_convnet"));
  const json_ordered base = cut_architecture(mnist, *mnist.find("flatten"));
  auto error = [&](const char* text) -> std::string {
    try {
      compose(base, json::parse(text), "mnist.json", "head.json");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(contains(error(R"([{"type": "Dense", "units": 0}])"),
                 "head.json: layer 'dense': /layers/0/units"));
  CHECK(contains(error(R"([{"type": "Dropout", "rate": 0.5}, {"type": "Dens", "units": 3}])"),
                 "head.json: /layers/1/type: unknown layer type 'Dens'"));
  CHECK(contains(error(R"([{"type": "Dense", "units": 3, "name": "conv2d"}])"),
                 "head.json: /layers/0/name: 'conv2d' is already a layer of the base"));
  CHECK(contains(error(R"([{"type": "Dense", "units": 3, "inputs": "nope"}])"),
                 "head.json: layer 'dense': /layers/0/inputs: no layer named 'nope'"));
  CHECK(contains(error(R"([3])"), "head.json: /layers/0: expected a layer object"));
  // Dense straight on an image-shaped output: a shape error naming the head layer.
  const json_ordered conv = cut_architecture(mnist, *mnist.find("conv2d_2"));
  try {
    compose(conv, parse_head_spec("dense:3:softmax"), "mnist.json", "--head");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(contains(e.what(), "--head: layer 'dense': /layers/0"));
  }
}

TEST_CASE("a frozen BatchNormalization uses its moving statistics in training mode") {
  const json arch = json::parse(R"({"name": "bn", "input_shape": [4, 4, 2], "layers": [
      {"type": "Conv2D", "filters": 3, "kernel_size": 3},
      {"type": "BatchNormalization"},
      {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]})");
  Model m = Model::from_json(arch, "bn.json");
  Rng rng(1);
  m.init_params(rng);
  Tensor x = xt::zeros<float>(std::vector<std::size_t>{3, 4, 4, 2});
  for (auto& v : x) v = static_cast<float>(rng.uniform()) * 4.0f;
  Context infer, train;
  train.training = true;
  train.rng = &rng;
  const Tensor b = m.forward(train, x);  // batch statistics
  freeze_layers(m, {"conv2d", "batch_normalization"});
  const Tensor c = m.forward(train, x);
  const Tensor d = m.forward(infer, x);  // moving statistics
  CHECK(c == d);
  CHECK_FALSE(b == d);
}

TEST_CASE("cutting and composing keep the model's input preprocessing") {
  const json arch = json::parse(R"({"name": "p", "input_shape": [4, 4, 3],
      "preprocessing": {"rescale": 0.5, "mean": [1, 2, 3], "channel_order": "bgr"},
      "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3},
                 {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]})");
  const Model m = Model::from_json(arch, "p.json");
  const Model cut = build(cut_architecture(m, *m.find("conv2d")));
  REQUIRE(cut.preprocessing());
  CHECK(cut.preprocessing()->rescale == 0.5f);
  CHECK(cut.preprocessing()->bgr);
  const Model head = compose(cut_architecture(m, *m.find("flatten")),
                             parse_head_spec("dense:3:softmax"), "p.json", "--head", {"dense"});
  REQUIRE(head.preprocessing());
  CHECK(head.preprocessing()->mean == std::vector<float>{1, 2, 3});
}
