// ONNX models -> architecture JSON + Keras-layout weights (cnn-import onnx). The file is read with
// the ONNX project's generated protobuf classes (Debian's libonnx-dev); the NCHW graph becomes
// channels-last layers: Conv kernels OIHW -> HWIO, the rows of a Dense that reads a flattened
// image permuted from (c, h, w) to (h, w, c) order, bias Adds and Relus fused into the layer
// before them, constant subgraphs folded. share/cnn-import.md lists every operator and rule.
#pragma once

#include <optional>
#include <string>

#include "io/import.hpp"

namespace cnn::io {

struct OnnxImportOptions {
  // Written as the model's "preprocessing" block; nullopt writes none.
  std::optional<json_ordered> preprocessing;
  // The model's name; empty: the graph's name made valid, else the file's stem.
  std::string name;
  // Appends an Activation softmax layer named "prob" after the graph's output (for models whose
  // output is logits, so that predictions are probabilities and evaluation losses make sense).
  bool append_softmax = false;
};

// The operators cnn-import understands (sorted), for messages and docs.
const std::vector<std::string>& onnx_supported_operators();

// Converts the ONNX model at path. Throws InputError if it cannot be read, and FormatError
// naming the file and the node (name and op type) for a file that is not an ONNX model, an
// unsupported operator or attribute, external tensor data, or shapes that do not fit.
ImportedModel import_onnx(const std::string& path, const OnnxImportOptions& opt = {});

// A serialized onnx.TensorProto file (the input_0.pb / output_0.pb of ONNX test data sets), as
// float32 in its own (NCHW) order. Throws FormatError for anything but a float tensor.
HostTensor read_onnx_tensor(const std::string& path);

}  // namespace cnn::io
