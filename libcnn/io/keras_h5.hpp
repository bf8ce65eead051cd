// Keras HDF5 weights files onto a given architecture (cnn-import keras-h5), read with the HDF5 C
// API. Both layouts the lecture's files use: Keras 2 (root attribute layer_names, per-layer
// attribute weight_names such as "block1_conv1/kernel:0", datasets at
// /block1_conv1/block1_conv1/kernel:0) and Keras 1 ("block1_conv1_W_1:0", "block1_conv1_b_1:0");
// TensorFlow dim ordering, so kernels are already [kh, kw, in, out] and Dense [in, units].
#pragma once

#include <map>
#include <string>

#include "io/npy_import.hpp"

namespace cnn::io {

struct KerasH5Options {
  // Layers (or parameters) of the architecture that the file lacks keep their values.
  bool allow_missing = false;
  // A Keras 3 weights file (the model.weights.h5 of a .keras archive) instead of Keras 2's
  // layout: each layer's group ("layers/conv2d_1"), whose datasets vars/0, vars/1, ... are its
  // parameters in order. Empty: Keras 2.
  std::map<std::string, std::string> keras3_groups;
  // How messages name the file ("": its path), e.g. "m.keras/model.weights.h5" for the copy a
  // .keras archive's weights were extracted to.
  std::string shown;
};

// Copies the weights of path into model, layer by layer by name. A whole-model file (weights
// under /model_weights) works too. Throws InputError if path cannot be read; FormatError naming
// the file and the layer or dataset for a file that is not HDF5 or not Keras weights, a weight
// name that is not a known parameter (kernel/W, bias/b, gamma, beta, moving_mean/running_mean,
// moving_variance/running_std), a dataset whose shape differs from the architecture's, and,
// without allow_missing, a layer or parameter of the architecture that the file does not have.
// Layers of the file that the architecture lacks are listed in WeightsImport::unused.
// libhdf5 trusts the sizes and offsets in a file, so it runs in a child process with bounded
// memory and CPU time (io/child.hpp): a file that makes it crash, allocate past the limit or spin
// is a FormatError too, and the caller's process is untouched. path must be a regular file
// (InputError otherwise).
WeightsImport import_keras_h5(Model& model, const std::string& path,
                              const KerasH5Options& opt = {});

// The root attribute model_config of a whole-model Keras HDF5 file (model.save('m.h5')): the
// architecture as model.to_json() writes it; "" when the file has none (a save_weights() file).
// Read in a child process as import_keras_h5 reads, with the same errors.
std::string read_keras_h5_model_config(const std::string& path);

}  // namespace cnn::io
