// Recipes: parse_recipe turns the resolved JSON into typed settings, the optimizer, schedule and
// early stopping included, so a recipe that parses is one that runs and a bad field is reported
// before any data is read.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <string>
#include <variant>

#include "../io/temp_dir.hpp"
#include "tensor/error.hpp"
#include "train/recipe.hpp"

using namespace cnn::train;
using cnn::json;

namespace {

json recipe_with(const std::string& key, const json& value) {
  json r = default_recipe();
  r["model"] = "m.json";
  r[key] = value;
  return r;
}

std::string parse_error(const json& r) {
  try {
    parse_recipe(r, "train.json", "");
  } catch (const cnn::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("recipe: the optimizer is typed, Keras spellings accepted and noted") {
  const Recipe defaults = parse_recipe(recipe_with("seed", 1), "train.json", "");
  REQUIRE(std::holds_alternative<RmspropConfig>(defaults.optimizer));
  CHECK(std::get<RmspropConfig>(defaults.optimizer).learning_rate == 0.001);
  CHECK(std::get<RmspropConfig>(defaults.optimizer).rho == 0.9);
  CHECK_FALSE(defaults.schedule);
  CHECK_FALSE(defaults.early_stopping);

  const Recipe adam = parse_recipe(recipe_with("optimizer", "adam"), "train.json", "");
  REQUIRE(std::holds_alternative<AdamConfig>(adam.optimizer));
  CHECK(learning_rate_of(adam.optimizer) == 0.001);

  const Recipe old =
      parse_recipe(recipe_with("optimizer", json{{"type", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}}),
                   "train.json", "");
  REQUIRE(std::holds_alternative<SgdConfig>(old.optimizer));
  CHECK(std::get<SgdConfig>(old.optimizer).learning_rate == 0.05);
  CHECK(std::get<SgdConfig>(old.optimizer).momentum == 0.9);
  REQUIRE(old.notes.size() == 1);
  CHECK(old.notes[0].find("optimizer.lr") != std::string::npos);
}

TEST_CASE("recipe: schedule and early stopping are typed and bound to the optimizer's rate") {
  json r = recipe_with("optimizer", json{{"type", "RMSprop"}, {"learning_rate", 0.01}});
  r["schedule"] = json{{"type", "cosine"}, {"decay_steps", 100}, {"alpha", 0.1}};
  r["early_stopping"] = json{{"monitor", "loss"}, {"patience", 3}};
  const Recipe recipe = parse_recipe(r, "train.json", "");
  REQUIRE(recipe.schedule);
  REQUIRE(std::holds_alternative<CosineScheduleConfig>(recipe.schedule->kind));
  CHECK(std::get<CosineScheduleConfig>(recipe.schedule->kind).decay_steps == 100);
  CHECK_FALSE(recipe.schedule->initial_learning_rate);
  const auto schedule = make_schedule(*recipe.schedule, learning_rate_of(recipe.optimizer));
  CHECK(schedule->learning_rate(0, 0) == doctest::Approx(0.01));
  CHECK(schedule->learning_rate(100, 0) == doctest::Approx(0.001));
  REQUIRE(recipe.early_stopping);
  CHECK(recipe.early_stopping->monitor == "loss");
  CHECK(recipe.early_stopping->patience == 3);

  r["schedule"] = json{{"type", "reduce_on_plateau"}, {"initial_learning_rate", 0.5}};
  const Recipe plateau = parse_recipe(r, "train.json", "");
  REQUIRE(std::holds_alternative<PlateauConfig>(plateau.schedule->kind));
  CHECK(make_schedule(*plateau.schedule, 0.01)->learning_rate(0, 0) == doctest::Approx(0.5));
}

TEST_CASE("recipe: a bad optimizer, schedule or early stopping is a parse error naming the field") {
  CHECK(parse_error(recipe_with("optimizer", json{{"type", "RMSprop"}, {"rho", 2}})) ==
        "train.json: /optimizer/rho: expected a number in [0, 1], got 2");
  CHECK(
      parse_error(recipe_with("optimizer", json{{"type", "Adam"}, {"lr", 1}, {"learning_rate", 1}}))
          .find("train.json: /optimizer/lr: give learning_rate or its old name lr") == 0);
  CHECK(parse_error(recipe_with("schedule", json{{"type", "cosine"}}))
            .find("/schedule/decay_steps") != std::string::npos);
  CHECK(
      parse_error(recipe_with("schedule", json{{"type", "cosin"}})).find("did you mean 'cosine'") !=
      std::string::npos);
  CHECK(parse_error(recipe_with("early_stopping", json{{"patiense", 2}}))
            .find("train.json: /early_stopping/patiense: unknown field") == 0);
  CHECK(parse_error(recipe_with("schedule", nullptr)) == "(no error)");
}

TEST_CASE("recipe: defaults < file < flags < assignments, resolved once") {
  cnn::test::TempDir tmp;
  const std::string file = (tmp.dir() / "train.json").string();
  std::ofstream(file) << R"({"model": "m.json", "weights": "w.safetensors", "epochs": 3,
                             "batch_size": 16, "optimizer": {"type": "Adam"}})";
  RecipeSources s;
  s.file = file;
  s.flags = json{{"epochs", 5}, {"seed", 7}};
  s.assignments = {"epochs=6", "optimizer.learning_rate=0.01"};
  const ResolvedRecipe r = resolve_recipe(s);
  CHECK(r.file == file);
  CHECK(r.base_dir == tmp.dir().string());
  CHECK(r.recipe.at("epochs") == 6);       // --set over the flag over the file
  CHECK(r.recipe.at("batch_size") == 16);  // the file over the defaults
  CHECK(r.recipe.at("seed") == 7);         // a flag
  CHECK(r.recipe.at("shuffle") == true);   // a default
  CHECK(r.recipe.at("optimizer") == json{{"type", "Adam"}, {"learning_rate", 0.01}});
  CHECK(r.recipe.at("weights") == "w.safetensors");

  s.ignore_from_file = {"model", "weights"};
  const ResolvedRecipe without = resolve_recipe(s);
  CHECK(without.recipe.at("model").is_null());
  CHECK(without.recipe.at("weights").is_null());

  const ResolvedRecipe flags_only = resolve_recipe(RecipeSources{});
  CHECK(flags_only.file == "<flags>");
  CHECK(flags_only.recipe == default_recipe());
}
