// Formatting of libcnn's error sentences.
#include "tensor/error.hpp"

#include <cstring>

namespace cnn {
namespace {

std::string config_message(const std::string& file, const std::string& pointer,
                           const std::string& layer, const std::string& problem) {
  std::string m = file.empty() ? std::string("<model>") : file;
  m += ": ";
  if (!layer.empty()) m += "layer '" + layer + "': ";
  if (!pointer.empty()) m += pointer + ": ";
  return m + problem;
}

}  // namespace

ConfigError::ConfigError(std::string file, std::string pointer, std::string layer,
                         std::string problem)
    : Error(config_message(file, pointer, layer, problem)),
      file_(std::move(file)),
      pointer_(std::move(pointer)),
      layer_(std::move(layer)),
      problem_(std::move(problem)) {}

ConfigError ConfigError::with_file(const std::string& file) const {
  return ConfigError(file, pointer_, layer_, problem_);
}

namespace {
std::string format_message(const std::string& file, std::optional<std::uint64_t> offset,
                           const std::string& problem) {
  std::string m = file;
  if (offset) {
    m += '@';
    m += std::to_string(*offset);
  }
  m += ": ";
  m += problem;
  return m;
}
}  // namespace

FormatError::FormatError(std::string file, std::optional<std::uint64_t> offset, std::string problem)
    : Error(format_message(file, offset, problem)), file_(std::move(file)), offset_(offset) {}

ShapeError::ShapeError(std::string layer, std::string problem, std::string type)
    : Error("layer '" + layer + "'" + (type.empty() ? "" : " (" + type + ")") + ": " + problem),
      layer_(std::move(layer)),
      problem_(std::move(problem)) {}

DataError::DataError(std::string where, std::string problem) : Error(where + ": " + problem) {}

UsageError::UsageError(std::string what, std::string problem)
    : Error(what.empty() ? problem : what + ": " + problem) {}

InputError::InputError(std::string path, std::string problem) : Error(path + ": " + problem) {}

IoError::IoError(std::string path, std::string operation, int errno_value)
    : Error(path + ": cannot " + operation + ": " + std::strerror(errno_value)) {}

IoError::IoError(std::string path, std::string operation, std::string reason)
    : Error(path + ": cannot " + operation + ": " + reason) {}

std::string quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace cnn
