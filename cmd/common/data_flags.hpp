// The flags that say how a dataset becomes a trained model's input, shared by the programs that
// read one (cnn-eval, cnn-extract-features, cnn-quantize): --target-size, --color-mode,
// --interpolation, --rescale, given to train::plan_input as a data-section patch.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::cmd {

struct DataFlags {
  std::vector<std::size_t> target_size;
  std::optional<std::string> color_mode, interpolation;
  std::optional<double> rescale;

  void add_to(CLI::App& app, const std::string& rescale_help = "Multiply pixel values by this");
  // The flags given, as fields of overrides (a JSON object).
  void apply(json& overrides) const;
};

}  // namespace cnn::cmd
