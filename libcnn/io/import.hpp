// What the importers (cnn-import: ONNX, Keras HDF5, .npy folders) have in common: an imported
// architecture with named weights in Keras layouts, copying them into a model by name, and
// writing the result as OUT_DIR/model.json + OUT_DIR/weights.safetensors with nothing left behind
// on failure.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::io {

// A float32 tensor in row-major order.
struct HostTensor {
  Shape shape;
  std::vector<float> data;
};

// An architecture (model JSON) and its weights "<layer>.<param>" in Keras layouts.
struct ImportedModel {
  json_ordered architecture;
  std::map<std::string, HostTensor> weights;
  std::vector<std::string> notes;  // facts worth telling the user (fused layers, permutations)
  std::vector<std::string> class_names;  // the file's own (ONNX metadata), when it has them
};

// Builds the model of imported.architecture (file names it in errors) and copies every weight
// into it by name. A parameter without a weight, a weight without a parameter, or a shape that
// differs is a FormatError naming source (the imported file) and the tensor: the importer's
// output must describe the model completely.
Model build_imported(const ImportedModel& imported, const std::string& source);

// "[3, 3, 64, 128]".
std::string shape_list(const Shape& s);

// want, or else want_1, want_2, ...: the first that taken lacks, which is then added to taken
// (layer names an importer or exporter makes up).
std::string unique_name(const std::string& want, std::set<std::string>& taken);

// Checks before any work that out_dir can receive an import: it must not exist, or be empty,
// or overwrite must be set (InputError naming it otherwise).
void check_output_directory(const std::string& out_dir, bool overwrite);

// Class names from a text file, one per line in output order (blank lines at the end ignored).
// ImageNet synset lines "n01440764 tench, Tinca tinca" give the name after the WordNet id; a
// name that occurs more than once (ImageNet has two "crane" and two "maillot") gets its id
// appended, "crane (n03126707)", so that every name is unique. Throws InputError if the file
// cannot be read, DataError(path, ...) for an empty file, and, when the model is given, for a
// count that does not fit its output (k classes for k outputs, 2 for one sigmoid output).
std::vector<std::string> read_class_names(const std::string& path, const Model* model = nullptr);

// Writes out_dir/model.json (model.to_json()), out_dir/weights.safetensors and, when class_names
// is not empty, out_dir/class_indices.json (what cnn-train writes: cnn-eval then names the
// classes), each atomically, creating out_dir when needed. When a write fails, the files this
// call wrote and a directory it created are removed again before the error propagates.
void write_import(Model& model, const std::string& out_dir, bool overwrite,
                  const std::vector<std::string>& class_names = {});

}  // namespace cnn::io
