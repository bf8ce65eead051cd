// train::dataset_options: what a recipe's data section and the model together give the datasets,
// in particular for models that declare their own preprocessing.
#include <doctest/doctest.h>

#include "io/architecture.hpp"
#include "train/run.hpp"

using namespace cnn;

TEST_CASE("dataset_options: defaults come from the model, preprocessing forces raw pixels") {
  Model plain = io::parse_model(R"({"input_shape": [5, 6, 1], "layers": [{"type": "Flatten"},
      {"type": "Dense", "units": 1, "activation": "sigmoid"}]})",
                                "plain.json");
  train::DataRecipe d;
  auto o = train::dataset_options(d, plain, 1, "");
  CHECK(o.target_h == 5);
  CHECK(o.target_w == 6);
  CHECK(o.color_mode == io::ColorMode::grayscale);
  CHECK(o.class_mode == data::ClassMode::binary);
  CHECK(o.interpolation == io::Interpolation::nearest);
  CHECK_FALSE(o.rescale);  // the dataset's own default (1/255 for IDX)
  d.rescale = 0.5;
  CHECK(*train::dataset_options(d, plain, 1, "").rescale == 0.5f);

  Model pre = io::parse_model(R"({"input_shape": [4, 4, 3], "preprocessing": {"rescale": 0.1,
      "interpolation": "bilinear"}, "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 3}]})",
                              "pre.json");
  train::DataRecipe e;
  o = train::dataset_options(e, pre, 1, "");
  REQUIRE(o.rescale);
  CHECK(*o.rescale == 1.0f);
  CHECK(o.interpolation == io::Interpolation::bilinear);
  e.interpolation = "nearest";  // an explicit choice wins
  CHECK(train::dataset_options(e, pre, 1, "").interpolation == io::Interpolation::nearest);
  e.rescale = 1.0;  // harmless
  CHECK(*train::dataset_options(e, pre, 1, "").rescale == 1.0f);
  // The model scales raw pixels itself: a recipe's rescale never scales the data a second time
  // (cnn-train and plan_input move it into the model instead).
  e.rescale = 1.0 / 255;
  CHECK(*train::dataset_options(e, pre, 1, "").rescale == 1.0f);
}
