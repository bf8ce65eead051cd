// The training-recipe flags (--data, --epochs, --optimizer, --set, ...) shared by the programs
// that train (cnn-train and cnn-finetune; share/cnn-train.md), from one table: each flag's
// name, value name, the recipe field it sets, how its text becomes JSON, and its help. The
// table makes the CLI options, names(), patch(), and the list tests/cli/habits.sh checks
// share/cnn-train.md's flags table against.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/run_main.hpp"
#include "tensor/config.hpp"

namespace cnn::cmd {

// How a flag's text becomes the recipe value.
enum class FlagKind {
  Dataset,      // a dataset spec, its path made absolute
  Path,         // a file, made absolute
  Text,         // a string
  Number,       // a number
  NonNegative,  // a number >= 0
  Count,        // an integer >= 1
  Size,         // an integer >= 0
  Pair,         // two integers >= 1 (H W)
  Json,         // JSON text
  ClassWeight,  // "auto" or JSON text
  Off,          // a flag without a value: sets the field to false
  On,           // a flag without a value: sets the field to true
};

struct RecipeFlag {
  const char* flag;   // "--batch-size"
  const char* value;  // "N" (shown in --help; "" for Off and On)
  const char* field;  // "batch_size", "data.train": the recipe field, dotted
  FlagKind kind;
  const char* help;
};

// Every recipe flag, in --help order.
const std::vector<RecipeFlag>& recipe_flags();

class RecipeFlags {
 public:
  // Adds the flags to app (not --model or --weights, whose meaning differs between programs).
  void add_to(CLI::App& app);
  // The flags' names, for programs that refuse them in some modes (--resume): all but --epochs.
  static const std::vector<std::string>& names();
  // --epochs, when given (what --resume takes).
  std::optional<std::size_t> epochs() const;
  // The given flags (each only when given) and --seed when given, as a recipe patch for
  // train::RecipeSources::flags. Throws ConfigError for flags whose JSON does not parse.
  json patch(const CLI::App& app, const CommonOptions& common) const;
  // The --set assignments, in order (train::RecipeSources::assignments).
  const std::vector<std::string>& assignments() const { return sets_; }

 private:
  std::map<std::string, std::vector<std::string>> given_;  // flag -> its values as typed
  std::map<std::string, bool> switched_;                   // Off and On flags
  std::vector<std::string> sets_;
};

}  // namespace cnn::cmd
