// Class weights: sklearn's "balanced" formula, JSON objects and lists, per-sample weights, errors.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "tensor/error.hpp"
#include "train/class_weight.hpp"

using namespace cnn::train;
using cnn::json;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("balanced class weights: n_samples / (n_classes * count_c)") {
  // 6 samples: class 0 x3, class 1 x2, class 2 x1.
  const std::vector<std::int32_t> labels{0, 0, 1, 0, 2, 1};
  CHECK(class_counts(labels, 3) == std::vector<std::size_t>{3, 2, 1});
  const auto w = balanced_class_weights(labels, 3);
  REQUIRE(w.size() == 3);
  CHECK(w[0] == doctest::Approx(6.0 / (3 * 3)));
  CHECK(w[1] == doctest::Approx(6.0 / (3 * 2)));
  CHECK(w[2] == doctest::Approx(6.0 / (3 * 1)));
  // Every class then carries the same total weight, n_samples / n_classes.
  CHECK(3 * w[0] == doctest::Approx(2.0));
  CHECK(2 * w[1] == doctest::Approx(2.0));
  CHECK(class_weights_from_json(json("auto"), labels, 3) == w);

  const auto sw = sample_weights(labels, w);
  REQUIRE(sw.size() == labels.size());
  CHECK(sw[4] == w[2]);
  CHECK(sw[2] == w[1]);

  const std::vector<std::int32_t> missing{0, 0, 2};
  CHECK(message_of([&] { balanced_class_weights(missing, 3); }) ==
        "labels: class 1 has no samples; \"auto\" class weights need every class present (give "
        "the weights explicitly instead)");
}

TEST_CASE("class weights from a JSON object or list") {
  const std::vector<std::int32_t> labels{0, 1, 1};
  CHECK(class_weights_from_json(json::parse(R"({"0": 1.0, "1": 2.5})"), labels, 2) ==
        std::vector<float>{1.0f, 2.5f});
  CHECK(class_weights_from_json(json::parse(R"([0.5, 2])"), labels, 2) ==
        std::vector<float>{0.5f, 2.0f});

  auto err = [&](const char* text, std::size_t k = 2) {
    return message_of([&] {
      class_weights_from_json(json::parse(text), labels, k, "train.json", "/class_weight");
    });
  };
  CHECK(err(R"({"0": 1.0})") ==
        "train.json: /class_weight: class 1 has no weight; expected keys \"0\" to \"1\"");
  CHECK(err(R"({"0": 1.0, "1": 1.0, "2": 1.0})") ==
        "train.json: /class_weight/2: expected a class id in [0, 2) as the key, got \"2\"");
  CHECK(err(R"({"0": 1.0, "cat": 1.0})").find("/class_weight/cat") != std::string::npos);
  CHECK(err(R"({"0": 1.0, "1": -2})") ==
        "train.json: /class_weight/1: expected a class weight (a number >= 0), got -2");
  CHECK(err(R"([1.0])") ==
        "train.json: /class_weight: expected 2 class weights (one per class), got 1");
  CHECK(err(R"([1.0, "x"])").find("/class_weight/1") != std::string::npos);
  CHECK(err(R"("balanced")").find("unknown value \"balanced\"") != std::string::npos);
  CHECK(err("3").find("expected \"auto\", an object") != std::string::npos);
  CHECK_NOTHROW(class_weights_from_json(json("auto"), labels, 2));
}

TEST_CASE("per-sample weights reject labels outside the classes, naming the sample") {
  const std::vector<float> w{1.0f, 2.0f};
  const std::vector<std::int32_t> labels{0, 1, 5};
  CHECK(message_of([&] { sample_weights(labels, w, 40); }) ==
        "sample 42: label 5 is out of range; expected a class id in [0, 2)");
  CHECK_THROWS_AS(class_counts(labels, 2), cnn::DataError);
}
