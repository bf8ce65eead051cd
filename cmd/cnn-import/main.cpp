// cnn-import: pretrained models (ONNX, Keras HDF5 weights, folders of .npy tensors) into an
// architecture JSON + safetensors weights directory.
#include <iostream>

#include "common/run_main.hpp"
#include "io/import_job.hpp"

namespace {

// Options every import has.
struct Output {
  std::string dir;
  bool overwrite = false;
  std::string classes;
};

void add_output_options(CLI::App* sub, Output& out) {
  sub->add_option("-o,--output", out.dir, "Output directory (model.json, weights.safetensors)")
      ->required();
  sub->add_flag("--overwrite", out.overwrite, "Write into an output directory that has files");
  sub->add_option("--classes", out.classes,
                  "Class names, one per line in output order (e.g. ImageNet's synset.txt); "
                  "written as class_indices.json so cnn-eval names the classes");
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Convert a pretrained model into an architecture JSON + safetensors weights directory.\n\n"
      "Examples:\n"
      "  cnn-import onnx ../shared/data/onnx-mnist/model.onnx -o models/onnx_mnist\n"
      "  cnn-import npy ../shared/data/squeezenet1.1/weights --model "
      "configs/models/squeezenet1_1.json \\\n"
      "      --map configs/import/squeezenet1_1_npy_map.json -o models/squeezenet1_1\n"
      "  cnn-import keras-h5 vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 \\\n"
      "      --model configs/models/vgg16_notop.json -o models/vgg16\n"
      "  cnn-import keras tfjs_model/model.json -o models/from_keras",
      "cnn-import"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  app.require_subcommand(1);
  app.fallthrough();

  // onnx
  Output onnx_out;
  std::string onnx_path, onnx_name;
  std::optional<double> rescale;
  std::vector<double> mean, stddev;
  std::optional<std::string> channel_order, interpolation;
  bool no_preprocessing = false, append_softmax = false;
  CLI::App* onnx = app.add_subcommand(
      "onnx",
      "An ONNX model (Conv, MaxPool, AveragePool, GlobalAveragePool/GlobalMaxPool, Gemm/MatMul, "
      "BatchNormalization, Concat, Add/Sum, Mul/Sub/Div by constants, Pad, Flatten/Reshape, "
      "Transpose, Dropout, Relu, Sigmoid, Tanh, Elu, LeakyRelu, Softmax; NCHW or NHWC input)");
  onnx->add_option("model", onnx_path, "The .onnx file")->required();
  add_output_options(onnx, onnx_out);
  onnx->add_option("--name", onnx_name, "Model name (default: the graph's name)");
  onnx->add_flag("--softmax", append_softmax,
                 "Append an Activation softmax layer 'prob' (for graphs that output logits)");
  onnx->add_option("--rescale", rescale,
                   "Preprocessing: multiply pixel values 0..255 by this (default 1: raw pixels)");
  onnx->add_option("--mean", mean, "Preprocessing: per-channel mean subtracted after rescaling");
  onnx->add_option("--std", stddev, "Preprocessing: per-channel standard deviation to divide by");
  onnx->add_option("--channel-order", channel_order, "Preprocessing: rgb or bgr")
      ->check(CLI::IsMember({"rgb", "bgr"}));
  onnx->add_option("--interpolation", interpolation, "Preprocessing: nearest or bilinear resizing")
      ->check(CLI::IsMember({"nearest", "bilinear"}));
  onnx->add_flag("--no-preprocessing", no_preprocessing,
                 "Write no preprocessing block (datasets then scale pixels as they do for any "
                 "model)");

  // npy
  Output npy_out;
  std::string npy_dir, npy_model, npy_map;
  bool no_transpose = false, npy_allow_missing = false;
  CLI::App* npy = app.add_subcommand(
      "npy", "A folder of .npy tensors onto an architecture, through a name map JSON");
  npy->add_option("weights_dir", npy_dir, "Folder of .npy files")->required();
  npy->add_option("--model", npy_model, "Architecture JSON")->required();
  npy->add_option("--map", npy_map, "Name map JSON {\"<file stem>\": \"<layer>.<param>\"}")
      ->required();
  add_output_options(npy, npy_out);
  npy->add_flag("--no-transpose", no_transpose,
                "2-D tensors for Dense kernels are [in, units] already (default: [units, in])");
  npy->add_flag("--allow-missing", npy_allow_missing,
                "Leave parameters the map does not fill initialised (from --seed)");

  // keras-h5
  Output h5_out;
  std::string h5_path, h5_model;
  bool h5_allow_missing = false;
  CLI::App* h5 = app.add_subcommand(
      "keras-h5",
      "Keras HDF5 weights (Keras 1 or 2, TensorFlow dim ordering) onto an architecture");
  h5->add_option("weights", h5_path, "The .h5 weights file")->required();
  h5->add_option("--model", h5_model, "Architecture JSON with the Keras layer names")->required();
  add_output_options(h5, h5_out);
  h5->add_flag("--allow-missing", h5_allow_missing,
               "Leave layers the file does not have initialised (from --seed)");

  // keras
  Output keras_out;
  std::string keras_path, keras_weights;
  bool keras_allow_missing = false;
  CLI::App* keras = app.add_subcommand(
      "keras",
      "A Keras model: a Keras 3 .keras archive, a Keras 2 whole-model .h5 (model.save), "
      "model.to_json() (Keras 2 or 3) with --weights, or a TensorFlow.js model.json with its "
      "weight shards");
  keras->add_option("model", keras_path, "The model's JSON, a whole-model .h5, or a .keras archive")
      ->required();
  keras->add_option("--weights", keras_weights,
                    "The weights (save_weights HDF5) of a model.to_json() file, or instead of a "
                    "whole-model file's own");
  add_output_options(keras, keras_out);
  keras->add_flag("--allow-missing", keras_allow_missing,
                  "Leave layers the weights file does not have initialised (from --seed)");

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    cnn::io::ImportJob job;
    const Output& out = onnx->parsed()    ? onnx_out
                        : npy->parsed()   ? npy_out
                        : keras->parsed() ? keras_out
                                          : h5_out;
    job.output = out.dir;
    job.overwrite = out.overwrite;
    job.classes = out.classes;
    job.seed = common.seed;
    if (onnx->parsed()) {
      if (no_preprocessing &&
          (rescale || !mean.empty() || !stddev.empty() || channel_order || interpolation))
        throw CLI::ValidationError("--no-preprocessing excludes the other preprocessing options");
      job.format = cnn::io::ImportFormat::onnx;
      job.source = onnx_path;
      job.onnx.name = onnx_name;
      job.onnx.append_softmax = append_softmax;
      if (!no_preprocessing) {
        cnn::json_ordered pre;
        pre["rescale"] = rescale.value_or(1.0);
        if (!mean.empty()) pre["mean"] = mean;
        if (!stddev.empty()) pre["std"] = stddev;
        if (channel_order) pre["channel_order"] = *channel_order;
        if (interpolation) pre["interpolation"] = *interpolation;
        job.onnx.preprocessing = pre;
      }
    } else if (npy->parsed()) {
      job.format = cnn::io::ImportFormat::npy;
      job.source = npy_dir;
      job.model = npy_model;
      job.map = npy_map;
      job.npy.transpose_dense = !no_transpose;
      job.npy.allow_missing = npy_allow_missing;
    } else if (keras->parsed()) {
      job.format = cnn::io::ImportFormat::keras;
      job.source = keras_path;
      job.weights = keras_weights;
      job.keras_h5.allow_missing = keras_allow_missing;
    } else {
      job.format = cnn::io::ImportFormat::keras_h5;
      job.source = h5_path;
      job.model = h5_model;
      job.keras_h5.allow_missing = h5_allow_missing;
    }
    const cnn::io::ImportResult r = cnn::io::run_import(job);
    const cnn::io::WeightsImport& loaded = r.weights;
    const std::string& source = job.source;
    const std::string& out_dir = job.output;

    if (common.json) {
      cnn::json_ordered j;
      j["source"] = source;
      j["output"] = out_dir;
      j["model"] = r.model_name;
      j["layers"] = r.layers;
      j["params"] = r.params;
      j["loaded"] = loaded.loaded;
      j["initialised"] = loaded.initialised;
      j["unused"] = loaded.unused;
      j["notes"] = r.notes;
      std::cout << j.dump() << "\n";
    }
    if (!common.quiet) {
      for (const auto& n : r.notes) std::cerr << "cnn-import: " << n << "\n";
      if (!loaded.initialised.empty())
        std::cerr << "cnn-import: left initialised (not in " << source
                  << "): " << join(loaded.initialised) << "\n";
      if (!loaded.unused.empty())
        std::cerr << "cnn-import: not used (not in the architecture): " << join(loaded.unused)
                  << "\n";
      std::cerr << "cnn-import: wrote " << out_dir << "/model.json and " << out_dir
                << "/weights.safetensors (" << r.layers << " layers, " << r.params
                << " parameters, " << loaded.loaded.size() << " tensors imported)\n";
    }
    return cnn::cmd::kOk;
  });
}
