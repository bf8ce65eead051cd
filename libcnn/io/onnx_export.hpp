// ONNX export (cnn-export onnx): a model with its weights -> one .onnx file that ONNX Runtime,
// OpenCV DNN, TensorRT and the browsers' runtimes read. The graph takes the same input as the
// model here, an NHWC float32 batch [N, height, width, channels] with a symbolic N, applies the
// model's declared preprocessing, transposes once to NCHW (ONNX's operators are channels-first)
// and gives the model's output in its own layout: class scores [N, k], or an image as NHWC.
// Flatten reads its image in (h, w, c) order, as Keras's channels-last Flatten does, so the
// Dense kernels after it are written unchanged. share/cnn-export.md lists the operator of every
// layer type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::io {

struct OnnxExportOptions {
  // The default operator set: 13 (Softmax over one axis; every runtime of the last years).
  std::int64_t opset = 13;
  // Written as the metadata property "class_names" (a JSON list), so that a deployment names
  // the outputs; empty: none.
  std::vector<std::string> class_names;
  // Whether BatchNormalization layers right after a Conv2D without activation (nothing else
  // reading the convolution) are folded into its kernel and bias instead of written as
  // BatchNormalization operators (fewer operators; the values round differently).
  bool fold_batch_norm = false;
};

struct OnnxExportResult {
  std::string input_name, output_name;
  std::vector<std::int64_t> input_shape, output_shape;  // -1: the symbolic batch dimension
  std::size_t nodes = 0, initializers = 0, bytes = 0;
  std::vector<std::string> notes;  // what the exporter decided (layers dropped, folded)
};

// The ONNX model as serialised protobuf bytes. Throws Error for a layer configuration that has
// no ONNX form (none of this project's layers today) and for an opset below 13.
std::string onnx_model_bytes(const Model& model, const OnnxExportOptions& opt,
                             OnnxExportResult* result = nullptr);

// Writes onnx_model_bytes to path atomically (io::write_file_atomically).
OnnxExportResult export_onnx(const Model& model, const OnnxExportOptions& opt,
                             const std::string& path);

}  // namespace cnn::io
