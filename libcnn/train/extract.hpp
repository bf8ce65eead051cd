// Feature extraction as cnn-extract-features performs it: a model run up to a named layer over
// a dataset, in dataset order, batched, with the features (optionally pooled or flattened) and
// the labels written as a record stream, .npy arrays or CSV.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tensor/config.hpp"
#include "tensor/tensor.hpp"

namespace cnn::train {

// What becomes of a layer's per-sample output [h, w, c] (or [k]): none keeps it, flatten makes
// it [h*w*c] (row-major, as Keras's Flatten), avg / max reduce it to [c] over h and w (as
// GlobalAveragePooling2D / GlobalMaxPooling2D).
enum class FeaturePool { none, flatten, avg, max };
std::optional<FeaturePool> parse_feature_pool(const std::string& name);
const char* feature_pool_name(FeaturePool pool);

// The per-sample shape after pooling. Throws ShapeError naming layer when avg/max get an
// output that is not [h, w, c].
Shape pooled_shape(const Shape& sample, FeaturePool pool, const std::string& layer);
// act [n, ...sample] -> out [n, numel(pooled_shape)], sample by sample. avg sums in double.
void pool_features(const Tensor& act, FeaturePool pool, std::vector<float>& out);

// Output formats, chosen by the output name: "-" or *.cnnrec a record stream of float32
// records (stdout for "-"); *.npy the features [n, ...shape] plus labels (int32 [n]) in
// <stem>.labels.npy and <stem>.meta.json (classes, files, layer); *.csv one row per sample,
// header f0..f{N-1},label,class,file.
enum class FeatureFormat { record_stream, npy, csv };
std::optional<FeatureFormat> feature_format(const std::string& output);
// feats.npy -> feats.labels.npy and feats.meta.json.
std::string npy_labels_path(const std::string& npy_path);
std::string npy_meta_path(const std::string& npy_path);

struct ExtractOptions {
  std::string model;    // an architecture file, or a directory holding model.json
  std::string weights;  // default: the directory's weights.safetensors
  std::string layer;    // the layer whose output is extracted
  std::string data;     // dataset spec
  FeaturePool pool = FeaturePool::none;
  std::string output;                    // see FeatureFormat
  json data_overrides = json::object();  // data-section fields: target_size, rescale, classes...
  std::size_t batch_size = 32;
  std::size_t threads = 1;  // data decoding threads
  std::string mnist_dir;
  const std::atomic<bool>* stop = nullptr;  // set (SIGINT): stop after the batch, write nothing
  std::function<void(const std::string&)> log;
  std::function<void(std::size_t done, std::size_t total, double seconds)> on_batch;
};

struct ExtractResult {
  std::vector<std::string> files;  // written (empty for stdout)
  std::string layer;
  std::size_t count = 0;
  Shape shape;  // per sample, after pooling
  std::vector<std::string> classes;
  double seconds = 0;  // the pass over the data (decoding and forward)
  bool interrupted = false;
};

// Validates everything before any work (the output name, the layer name, the weights, the data
// against the model's input), then runs the model cut at the layer. Throws ConfigError (an
// unknown layer lists the nearest names), FormatError (weights that do not fit name the file,
// the layer and the tensor), DataError/InputError for the data, IoError for the output. Nothing
// is left at the output path on failure or interruption.
ExtractResult extract_features(const ExtractOptions& options);

}  // namespace cnn::train
