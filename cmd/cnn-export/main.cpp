// cnn-export: a run directory (or a model directory, or an architecture + weights) out to the
// formats other runtimes read: ONNX, and Keras's own files.
#include <iostream>

#include "common/run_main.hpp"
#include "io/architecture.hpp"
#include "io/keras_export.hpp"
#include "io/onnx_export.hpp"
#include "io/weights.hpp"
#include "model/surgery.hpp"
#include "train/finetune.hpp"
#include "train/run_dir.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Export a trained model to the formats other runtimes read.\n\n"
      "Examples:\n"
      "  cnn-export onnx runs/mnist -o mnist.onnx      # ONNX Runtime, OpenCV DNN, TensorRT\n"
      "  cnn-export onnx models/squeezenet1_1 -o squeezenet.onnx --fold-batch-norm\n"
      "  cnn-export onnx configs/models/mnist_convnet.json --weights w.safetensors -o m.onnx\n"
      "  cnn-export keras-h5 runs/mnist -o mnist_weights.h5 --model-json mnist_model.json",
      "cnn-export"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  app.require_subcommand(1);
  app.fallthrough();

  std::string target, weights, output, layer;
  long opset = 13;
  bool fold_bn = false;
  CLI::App* onnx = app.add_subcommand(
      "onnx",
      "ONNX (opset 13+): NHWC float32 input [N, height, width, channels] with the model's "
      "preprocessing applied inside, the output in the model's own layout");
  onnx->add_option("run", target,
                   "A run directory (cnn-train, cnn-finetune), a model directory (cnn-import) "
                   "or an architecture JSON with --weights")
      ->required();
  onnx->add_option("--weights", weights, "Weights (.safetensors) instead of the run's own");
  onnx->add_option("-o,--output", output, "The .onnx file to write")->required();
  onnx->add_option("--opset", opset, "ONNX operator set version (13 or later)")
      ->check(cnn::cmd::at_least(13, 21));
  onnx->add_option("--layer", layer,
                   "Export the model only up to this layer (and what it reads), e.g. the logits "
                   "before a softmax or a convolutional base");
  onnx->add_flag("--fold-batch-norm", fold_bn,
                 "Fold each BatchNormalization that follows a linear Conv2D into its kernel "
                 "and bias (fewer operators; values round slightly differently)");

  // One subcommand runs: the other's run, --weights and -o share these variables.
  std::string k_json;
  CLI::App* keras = app.add_subcommand(
      "keras-h5",
      "Keras 2 save_weights() HDF5 (and, with --model-json, the matching model.to_json()) for "
      "model_from_json + load_weights");
  keras->add_option("run", target, "A run directory, a model directory, or an architecture JSON")
      ->required();
  keras->add_option("--weights", weights, "Weights (.safetensors) instead of the run's own");
  keras->add_option("-o,--output", output, "The .h5 weights file to write")->required();
  keras->add_option("--model-json", k_json, "Also write the architecture as Keras JSON here");

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    const bool to_keras = keras->parsed();
    const cnn::train::RunDir run =
        cnn::train::open_run(target, weights, cnn::train::NeedWeights::yes);
    if (!run.weights_note.empty() && !common.quiet)
      std::cerr << "cnn-export: note: " << run.weights_note << "\n";
    cnn::Model model = cnn::io::load_model(run.model_path);
    if (!to_keras && !layer.empty()) {
      // The model cut at --layer, with the run's weights for every layer it keeps (as
      // cnn-extract-features cuts it).
      const std::size_t at = cnn::require_layer(model, layer, "--layer", run.model_path);
      model = cnn::Model::from_json(cnn::json::parse(cnn::cut_architecture(model, at).dump()),
                                    run.model_path);
      cnn::train::load_base_weights(model, run.weights_path, cnn::train::all_layer_names(model));
    } else {
      cnn::io::load_weights(model, run.weights_path);
    }
    if (to_keras) {
      const cnn::io::KerasExportResult r =
          cnn::io::export_keras(model, run.model_path, output, k_json);
      if (common.json) {
        cnn::json_ordered j;
        j["output"] = output;
        j["format"] = "keras-h5";
        j["model_json"] = k_json.empty() ? cnn::json_ordered(nullptr) : cnn::json_ordered(k_json);
        j["layers"] = r.layers;
        j["tensors"] = r.tensors;
        j["notes"] = r.notes;
        std::cout << j.dump() << "\n";
      }
      if (!common.quiet) {
        for (const auto& n : r.notes) std::cerr << "cnn-export: " << n << "\n";
        std::cerr << "cnn-export: wrote " << output << " (Keras 2 weights, " << r.tensors
                  << " tensors in " << r.layers << " layers)"
                  << (k_json.empty() ? "" : " and " + k_json) << "\n";
      }
      return cnn::cmd::kOk;
    }
    cnn::io::OnnxExportOptions opt;
    opt.opset = opset;
    opt.class_names = run.class_names;
    opt.fold_batch_norm = fold_bn;
    const cnn::io::OnnxExportResult r = cnn::io::export_onnx(model, opt, output);

    auto dims = [](const std::vector<std::int64_t>& d) {
      std::string s = "[";
      for (std::size_t k = 0; k < d.size(); ++k)
        s += (k ? ", " : "") + (d[k] < 0 ? std::string("N") : std::to_string(d[k]));
      return s + "]";
    };
    if (common.json) {
      cnn::json_ordered j;
      j["output"] = output;
      j["format"] = "onnx";
      j["opset"] = opset;
      j["input"] = {{"name", r.input_name}, {"shape", r.input_shape}};
      j["output_tensor"] = {{"name", r.output_name}, {"shape", r.output_shape}};
      j["nodes"] = r.nodes;
      j["initializers"] = r.initializers;
      j["bytes"] = r.bytes;
      j["notes"] = r.notes;
      std::cout << j.dump() << "\n";
    }
    if (!common.quiet) {
      for (const auto& n : r.notes) std::cerr << "cnn-export: " << n << "\n";
      std::cerr << "cnn-export: wrote " << output << " (ONNX opset " << opset << ", " << r.nodes
                << " nodes, " << r.bytes << " bytes): input '" << r.input_name << "' "
                << dims(r.input_shape) << " float32, output '" << r.output_name << "' "
                << dims(r.output_shape) << "\n";
    }
    return cnn::cmd::kOk;
  });
}
