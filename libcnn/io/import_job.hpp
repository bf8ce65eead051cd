// A whole import as one call (what cnn-import runs): a pretrained model (ONNX, Keras HDF5
// weights onto an architecture, a folder of .npy tensors through a name map) into a model
// directory, OUT/model.json + OUT/weights.safetensors (+ class_indices.json).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/keras_h5.hpp"
#include "io/npy_import.hpp"
#include "io/onnx_import.hpp"

namespace cnn::io {

enum class ImportFormat { onnx, npy, keras_h5, keras };

struct ImportJob {
  ImportFormat format = ImportFormat::onnx;
  // the .onnx file, the folder of .npy files, the .h5 weights file, or (keras) a Keras model's
  // JSON (model.to_json()), a Keras 2 whole-model .h5 or a TensorFlow.js model.json
  std::string source;
  std::string model;    // npy, keras_h5: the architecture JSON the weights go onto
  std::string map;      // npy: the name map JSON
  std::string weights;  // keras: save_weights() HDF5 for a JSON that holds only the architecture
  OnnxImportOptions onnx;
  NpyImportOptions npy;
  KerasH5Options keras_h5;
  std::uint64_t seed = 0;  // the initialisers of what allow_missing leaves out
  std::string output;      // the model directory
  bool overwrite = false;  // write into an output directory that has files
  std::string classes;     // a class-names file (one per line) for class_indices.json; "": none
};

struct ImportResult {
  std::string model_name;
  std::size_t layers = 0, params = 0;
  WeightsImport weights;           // which tensors were loaded, left initialised, not used
  std::vector<std::string> notes;  // what the importer decided (ONNX)
};

// Checks the output directory first, imports, and writes the model directory atomically (nothing
// is left behind on failure). Throws what the importers throw (InputError, FormatError, ...).
ImportResult run_import(const ImportJob& job);

}  // namespace cnn::io
