// Evaluation as cnn-eval performs it: a trained model (a run directory, or architecture +
// weights) on a dataset or on single image files; loss, accuracy, confusion matrix, per-class
// precision/recall/F1, and per-sample predictions in dataset order.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "train/metrics.hpp"
#include "train/recipe.hpp"

namespace cnn::train {

struct EvalOptions {
  std::string run_dir;  // model.json, weights.safetensors, train.json, class_indices
  std::string model_path, weights_path;  // instead of run_dir (both needed)
  std::optional<std::string> data;       // dataset spec
  std::vector<std::string> images;       // or single image files (predictions only)
  json data_overrides = json::object();  // data-section fields (target_size, rescale, ...)
  std::optional<std::string> loss;
  std::size_t batch_size = 32;
  std::size_t threads = 1;
  std::string mnist_dir;
  bool predictions = false;                     // keep per-sample predictions
  std::optional<std::string> classes_file;      // class names, one per line (instead of the run's)
  std::function<void(const std::string&)> log;  // notes (overridden preprocessing, weights)
  std::size_t top_k = 0;  // > 0: reports list each prediction's k most probable classes
  std::function<void(std::size_t done, std::size_t total)> on_progress;  // after each batch
};

struct Prediction {
  std::string name;                   // file path or "spec[i]"
  std::optional<std::int32_t> label;  // the true class when known
  std::int32_t predicted = 0;
  std::vector<float> probabilities;  // per class (binary: [p(class 0), p(class 1)])
};

struct EvalReport {
  std::string model_name;
  std::vector<std::string> class_names;
  std::size_t samples = 0;
  bool has_labels = false;  // false for single images
  double loss = 0, accuracy = 0;
  std::optional<double> top_k;
  ConfusionMatrix confusion{1};
  std::vector<Prediction> predictions;
  std::size_t classes_shown = 0;  // EvalOptions::top_k, for the report writers
};

// Throws ConfigError/FormatError/DataError/InputError/ShapeError for bad inputs.
EvalReport run_evaluation(const EvalOptions& options);

// The report as JSON (loss, accuracy, per-class metrics, confusion matrix with class names;
// predictions when kept).
json_ordered report_json(const EvalReport& report);
// The report as text for people (stdout of cnn-eval).
std::string report_text(const EvalReport& report);
// Predictions as CSV: file,label,predicted,<one probability column per class>; with top_k:
// file,label,class_1,probability_1,...,class_k,probability_k (most probable first).
std::string predictions_csv(const EvalReport& report);
// Predictions with their top_k classes as an aligned table for a terminal.
std::string predictions_table(const EvalReport& report);

}  // namespace cnn::train
