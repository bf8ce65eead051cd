// ConfigReader: typed access, defaults, and one-sentence errors naming file, layer and field.
#include <doctest/doctest.h>

#include "tensor/config.hpp"

using cnn::ConfigError;
using cnn::ConfigReader;
using cnn::json;

TEST_CASE("config reader reads typed values and defaults") {
  const json j = json::parse(R"({"filters": 32, "kernel_size": [3, 5], "padding": "same",
                                 "use_bias": false, "rate": 0.5})");
  ConfigReader r(j, "m.json", "/layers/0", "conv2d");
  CHECK(r.get_int("filters", std::nullopt, 1) == 32);
  CHECK(r.get_pair("kernel_size", std::nullopt, 1) == std::array<long, 2>{3, 5});
  CHECK(r.get_pair("strides", std::array<long, 2>{1, 1}, 1) == std::array<long, 2>{1, 1});
  CHECK(r.get_choice("padding", "valid", {"valid", "same"}) == "same");
  CHECK(r.get_bool("use_bias", true) == false);
  CHECK(r.get_number("rate", 0.0, 0.0, 1.0) == doctest::Approx(0.5));
  CHECK_NOTHROW(r.finish());
}

TEST_CASE("config reader errors name file, layer, pointer and expectation") {
  const json j = json::parse(R"({"filters": -3, "paddin": "same", "padding": "sme"})");
  ConfigReader r(j, "m.json", "/layers/2", "conv2d_1");
  try {
    r.get_int("filters", std::nullopt, 1);
    FAIL("no throw");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "m.json: layer 'conv2d_1': /layers/2/filters: expected an integer >= 1, got -3");
  }
  try {
    r.get_choice("padding", "valid", {"valid", "same"});
    FAIL("no throw");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("did you mean 'same'?") != std::string::npos);
  }
  try {
    r.finish();
    FAIL("no throw");
  } catch (const ConfigError& e) {
    CHECK(e.pointer() == "/layers/2/paddin");
    CHECK(std::string(e.what()).find("unknown field") != std::string::npos);
    CHECK(std::string(e.what()).find("did you mean 'padding'?") != std::string::npos);
  }
  CHECK_THROWS_AS(r.get_int("missing", std::nullopt), ConfigError);
  CHECK_THROWS_AS(r.get_pair("filters", std::nullopt, 1), ConfigError);
}
