// Keras 3 .keras archives (model.save('m.keras')): a zip file holding config.json (the model as
// Keras 3's JSON), metadata.json and model.weights.h5 (the weights in Keras 3's layout), read
// with libzip (Debian's libzip-dev).
#pragma once

#include <string>

#include "tensor/config.hpp"

namespace cnn::io {

// An archive opened: its config.json, and its model.weights.h5 copied out to a temporary file
// (for libhdf5, which reads files by name), removed again when the object is destroyed.
class KerasArchive {
 public:
  // Throws InputError if path cannot be read, FormatError naming path for a file that is not a
  // zip archive or lacks config.json or model.weights.h5 (a model saved with weights in .npz
  // form included), members whose sizes are past the limits (config.json 64 MiB; a member that
  // expands more than 100 times beyond 256 MiB), and ConfigError for config.json that is not
  // JSON. Throws IoError when the temporary file cannot be written.
  explicit KerasArchive(const std::string& path);
  ~KerasArchive();
  KerasArchive(const KerasArchive&) = delete;
  KerasArchive& operator=(const KerasArchive&) = delete;

  const json& config() const { return config_; }
  // The extracted model.weights.h5.
  const std::string& weights_path() const { return weights_path_; }
  // "m.keras/model.weights.h5", for messages about the weights.
  std::string weights_name() const { return path_ + "/model.weights.h5"; }

 private:
  std::string path_, temp_dir_, weights_path_;
  json config_;
};

}  // namespace cnn::io
