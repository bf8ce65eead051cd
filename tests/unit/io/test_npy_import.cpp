// .npy folder import: SqueezeNet 1.1 (configs/models/squeezenet1_1.json + the name map) against
// its three reference outputs, the layout conversions, and the map and shape errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>

#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "io/npy_import.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::ConfigError;
using cnn::Context;
using cnn::FormatError;
using cnn::Model;
using cnn::Rng;
using cnn::Tensor;

namespace {

const std::string kSqueeze = std::string(CNN_SHARED_DATA) + "/squeezenet1.1";

// The architecture without its preprocessing block: the reference inputs are the tensors fed
// to the network itself, so they must reach conv1 unchanged.
Model squeezenet_network() {
  cnn::json arch = cnn::json::parse(
      cnn::io::read_file(std::string(CNN_SOURCE_DIR) + "/configs/models/squeezenet1_1.json"));
  arch.erase("preprocessing");
  return Model::from_json(arch, "squeezenet1_1.json");
}

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected exception not thrown");
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("npy import: SqueezeNet 1.1 reproduces its three reference outputs") {
  if (!cnn::test::have_data(kSqueeze)) return;
  Model m = squeezenet_network();
  CHECK(m.param_count() == 1235496);
  const auto r = cnn::io::import_npy(
      m, kSqueeze + "/weights",
      std::string(CNN_SOURCE_DIR) + "/configs/import/squeezenet1_1_npy_map.json");
  CHECK(r.loaded.size() == 52);
  CHECK(r.initialised.empty());
  CHECK(r.unused.empty());
  const std::size_t pool10 = *m.find("pool10");
  Rng rng(1);
  Context ctx{false, &rng};
  for (int set = 0; set < 3; ++set) {
    const std::string dir = kSqueeze + "/test_data_set/" + std::to_string(set);
    const auto in = cnn::io::read_npy(dir + "/input_0.npy");
    const auto want = cnn::io::read_npy(dir + "/output_0.npy");
    REQUIRE(in.shape == std::vector<std::size_t>{1, 3, 224, 224});
    REQUIRE(want.size() == 1000);
    Tensor x = Tensor::from_shape({1, 224, 224, 3});  // NCHW -> NHWC
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < 224 * 224; ++i) x.data()[i * 3 + c] = in.data[c * 224 * 224 + i];
    const Tensor& prob = m.forward(ctx, x);
    const Tensor& logits = m.output_of(pool10);  // before the softmax, as the reference
    double d = 0;
    for (std::size_t k = 0; k < 1000; ++k)
      d = std::max(d, std::fabs(double(logits.data()[k]) - want.data[k]));
    MESSAGE("set " << set << " max abs diff " << d);
    CHECK(d < 1e-3);
    CHECK(std::max_element(prob.begin(), prob.end()) - prob.begin() == 490);
    double sum = 0;
    for (float p : prob) sum += p;
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("npy import: layouts are converted by the parameter's kind") {
  cnn::test::TempDir dir;
  const char* arch = R"({"name": "t", "input_shape": [4, 4, 2], "layers": [
      {"type": "Conv2D", "name": "c", "filters": 3, "kernel_size": [2, 1]},
      {"type": "Flatten", "name": "f"},
      {"type": "Dense", "name": "d", "units": 2}]})";
  Model m = Model::from_json(cnn::json::parse(arch), "t.json");
  // Conv OIHW [3, 2, 2, 1]: value = 1000 f + 100 i + 10 y + x.
  std::vector<float> w(12);
  for (std::size_t f = 0; f < 3; ++f)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t y = 0; y < 2; ++y)
        w[(f * 2 + i) * 2 + y] = float(1000 * f + 100 * i + 10 * y);
  cnn::io::write_npy(dir.file("cw.npy"), {3, 2, 2, 1}, w.data());
  const std::vector<float> cb = {1, 2, 3};
  cnn::io::write_npy(dir.file("cb.npy"), {3, 1, 1}, cb.data());  // a bias [c, 1, 1] is fine
  std::vector<float> dw(2 * 36);                                 // conv output 3x4x3 = 36 features
  for (std::size_t u = 0; u < 2; ++u)
    for (std::size_t i = 0; i < 36; ++i) dw[u * 36 + i] = float(100 * u + i);
  cnn::io::write_npy(dir.file("dw.npy"), {2, 36}, dw.data());  // [units, in]
  const std::vector<float> db = {5, 6};
  cnn::io::write_npy(dir.file("db.npy"), {2}, db.data());
  cnn::io::write_file_atomically(
      dir.file("map.json"),
      R"({"cw": "c.kernel", "cb": "c.bias", "dw.npy": "d.kernel", "db": "d.bias"})");
  const auto r = cnn::io::import_npy(m, dir.path(), dir.file("map.json"));
  CHECK(r.loaded.size() == 4);
  auto params = m.named_params();
  const float* k = params[0].param->value;  // [kh 2, kw 1, in 2, out 3]
  for (std::size_t y = 0; y < 2; ++y)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t f = 0; f < 3; ++f)
        CHECK(k[(y * 2 + i) * 3 + f] == float(1000 * f + 100 * i + 10 * y));
  CHECK(params[1].param->value[2] == 3.0f);
  const float* d = params[2].param->value;  // [in 36, units 2]
  CHECK(d[5 * 2 + 1] == 105.0f);
  CHECK(d[35 * 2 + 0] == 35.0f);

  // --no-transpose takes [in, units]; the [units, in] file no longer fits.
  cnn::io::NpyImportOptions keep;
  keep.transpose_dense = false;
  const std::string e = error_of<FormatError>(
      [&] { (void)cnn::io::import_npy(m, dir.path(), dir.file("map.json"), keep); });
  CHECK(contains(e, "dw.npy"));
  CHECK(contains(e, "'d.kernel'"));
  CHECK(contains(e, "[2, 36]"));

  // A wrong shape names the file, the tensor and both shapes.
  cnn::io::write_npy(dir.file("cw.npy"), {3, 2, 1, 2}, w.data());
  const std::string s = error_of<FormatError>(
      [&] { (void)cnn::io::import_npy(m, dir.path(), dir.file("map.json")); });
  CHECK(contains(s, "cw.npy"));
  CHECK(contains(s, "tensor 'cw' for 'c.kernel'"));
  CHECK(contains(s, "[3, 2, 1, 2]"));
  CHECK(contains(s, "[3, 2, 2, 1]"));
}

TEST_CASE("npy import: map errors and truncated files") {
  cnn::test::TempDir dir;
  Model m = Model::from_json(cnn::json::parse(R"({"name": "t", "input_shape": [3], "layers": [
          {"type": "Dense", "name": "d", "units": 2}]})"),
                             "t.json");
  const std::vector<float> b = {1, 2};
  cnn::io::write_npy(dir.file("b.npy"), {2}, b.data());
  cnn::io::write_file_atomically(dir.file("bad.json"), R"({"b": "d.bais"})");
  std::string e = error_of<ConfigError>(
      [&] { (void)cnn::io::import_npy(m, dir.path(), dir.file("bad.json")); });
  CHECK(contains(e, "bad.json"));
  CHECK(contains(e, "'d.bais' is not a parameter"));
  CHECK(contains(e, "d.bias"));  // the nearest name

  cnn::io::write_file_atomically(dir.file("part.json"), R"({"b": "d.bias"})");
  e = error_of<ConfigError>(
      [&] { (void)cnn::io::import_npy(m, dir.path(), dir.file("part.json")); });
  CHECK(contains(e, "d.kernel"));
  CHECK(contains(e, "--allow-missing"));
  cnn::io::NpyImportOptions allow;
  allow.allow_missing = true;
  const auto r = cnn::io::import_npy(m, dir.path(), dir.file("part.json"), allow);
  CHECK(r.initialised == std::vector<std::string>{"d.kernel"});

  // A truncated .npy: the file and the byte offset.
  auto bytes = cnn::test::read_bytes(dir.file("b.npy"));
  bytes.resize(bytes.size() - 3);
  cnn::test::write_bytes(dir.file("b.npy"), bytes);
  e = error_of<FormatError>(
      [&] { (void)cnn::io::import_npy(m, dir.path(), dir.file("part.json"), allow); });
  CHECK(contains(e, "b.npy"));
}
