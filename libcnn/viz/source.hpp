// Inputs of the visualisations: a model from a run directory or an architecture JSON with
// weights, the way its images are read (the run's data settings), layer look-up with clear
// errors, class names; and outputs written all-or-nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "model/model.hpp"

namespace cnn::viz {

struct Target {
  Model model;
  std::string model_path, weights_path, run_dir;  // run_dir empty for a model file
  data::DatasetOptions image_options;             // how a photo becomes the model's input
  std::vector<std::string> class_names;           // class_indices.json of the run; may be empty
  std::string weights_note;  // set when the weights are a checkpoint's (train::RunDir)
};

// target: a run directory (model.json, weights.safetensors, train.json, class_indices.json) or
// an architecture JSON; weights overrides the run's (and is required for a JSON; pass
// allow_no_weights for uses that only need the architecture). Every layer is frozen: the
// visualisations want gradients with respect to inputs and activations, not parameters.
// Throws InputError/ConfigError/FormatError as the loaders do.
Target load_target(const std::string& target, const std::string& weights, std::size_t threads,
                   bool allow_no_weights = false);

// The model input [1, h, w, c] for an image file, read as the model's data pipeline reads it
// (colour mode, target size, interpolation, rescale). Throws InputError/DataError naming it.
Tensor load_input(const Target& t, const std::string& image);

// The node index of a layer by name; ConfigError naming the model file, listing the layers and
// the nearest name, for an unknown one.
std::size_t find_layer(const Model& model, const std::string& name, const std::string& file);
// The same for a layer that must be Conv2D (what = the purpose, for the message); without a
// name, the first (first = true) or last Conv2D layer. ConfigError when there is none.
std::size_t find_conv_layer(const Model& model, const std::optional<std::string>& name,
                            const std::string& file, bool first, const std::string& what);

// Output files gathered in memory and written together: each atomically; if one fails, those
// already written by commit() are removed again, and so is a folder prepare_dir() created.
class Outputs {
 public:
  // Checks before long work that the file can be created (its folder exists and is writable).
  static void check_file(const std::string& path);
  // Makes sure dir exists (creating it, but not its parents) and is writable. IoError otherwise.
  void prepare_dir(const std::string& dir);
  void add(std::string path, std::vector<std::uint8_t> bytes);
  void add(std::string path, const std::string& text);
  // Writes everything; returns the paths in the order added. Throws IoError (nothing left).
  std::vector<std::string> commit();
  ~Outputs();

 private:
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> files_;
  std::string created_dir_;
  bool committed_ = false;
};

}  // namespace cnn::viz
