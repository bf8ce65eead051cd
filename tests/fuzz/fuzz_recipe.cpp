// A training recipe (configs/train/*.json): JSON, merged over the defaults, validated.
#include <string>

#include "fuzz.hpp"
#include "tensor/config.hpp"
#include "train/recipe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const cnn::json j =
        cnn::parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    cnn::json recipe = cnn::train::default_recipe();
    cnn::train::merge_into(recipe, j);
    cnn::train::parse_recipe(recipe, "fuzz.json", "");
  });
}
