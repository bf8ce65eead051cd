// A folder of NumPy .npy tensors onto a given architecture (cnn-import npy): a name map JSON
// {"<file stem>": "<layer>.<param>"} says which file fills which parameter, and the layout is
// converted by the parameter's kind (a Conv2D kernel from OIHW, a Dense kernel from [out, in]).
#pragma once

#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::io {

// What a load onto an architecture did: parameters filled from the file(s), parameters left as
// initialised (--allow-missing), and tensors of the source no parameter took.
struct WeightsImport {
  std::vector<std::string> loaded, initialised, unused;
};

struct NpyImportOptions {
  // A 2-D tensor for a Dense kernel is [out, in] (PyTorch, ONNX Gemm) and is transposed; false
  // takes it as [in, out].
  bool transpose_dense = true;
  // Parameters the map does not fill keep their values (else it is an error).
  bool allow_missing = false;
};

// Reads map_path (a JSON object of strings) and dir/<key>.npy for each key into model's
// parameters. Layout rules: a 4-D tensor for a Conv2D kernel [kh, kw, in, out] must be
// [out, in, kh, kw] (OIHW) and is transposed; a 2-D tensor for a Dense kernel [in, units] is
// [units, in] (see transpose_dense); any other parameter takes a tensor of the same number of
// values whose dims are all 1 but one (a bias [c], [c, 1, 1] or [1, c]).
// Throws ConfigError (map file, key) for a map that is not an object of strings, a target that
// is not a parameter, or two keys with one target; InputError for a missing .npy; FormatError
// naming the .npy file, the key and the parameter for a bad file or a shape that does not fit;
// and, without allow_missing, ConfigError naming every parameter that the map leaves unfilled.
WeightsImport import_npy(Model& model, const std::string& dir, const std::string& map_path,
                         const NpyImportOptions& opt = {});

}  // namespace cnn::io
