// Error types of libcnn: every failure is thrown as one of these, never printed or exited on.
// what() is one sentence: "file[:line|@offset]: [layer 'name':] field: problem; expected X, got Y".
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace cnn {

// Base of all libcnn errors. Programs map the subclasses to exit codes (see cmd/common).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model/recipe configuration problem: file, JSON pointer (/layers/3/strides), layer name.
class ConfigError : public Error {
 public:
  ConfigError(std::string file, std::string pointer, std::string layer, std::string problem);
  const std::string& file() const { return file_; }
  const std::string& pointer() const { return pointer_; }
  const std::string& layer() const { return layer_; }
  const std::string& problem() const { return problem_; }
  // The same error with a file name attached (used by loaders that know the path).
  ConfigError with_file(const std::string& file) const;

 private:
  std::string file_, pointer_, layer_, problem_;
};

// A binary/text file whose bytes are not what the format says: file and byte offset.
class FormatError : public Error {
 public:
  FormatError(std::string file, std::optional<std::uint64_t> offset, std::string problem);
  const std::string& file() const { return file_; }
  std::optional<std::uint64_t> offset() const { return offset_; }

 private:
  std::string file_;
  std::optional<std::uint64_t> offset_;
};

// Tensor shapes that do not fit: the layer (name and type) and a description with both shapes.
class ShapeError : public Error {
 public:
  ShapeError(std::string layer, std::string problem, std::string type = {});
  const std::string& layer() const { return layer_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string layer_, problem_;
};

// Bad data: a sample, an image, a label; names the file or sample.
class DataError : public Error {
 public:
  DataError(std::string where, std::string problem);
};

// An input file that cannot be read at all (missing, unreadable, a directory): exit code 3,
// unlike IoError, which is about outputs and the system (exit code 1).
class InputError : public Error {
 public:
  InputError(std::string path, std::string problem);
};

// A request that cannot be carried out as given (an output name with the wrong extension, a
// combination of options that excludes itself): exit code 2, as a flag CLI11 refuses.
class UsageError : public Error {
 public:
  UsageError(std::string what, std::string problem);
};

// The operating system refused: path, operation and strerror(errno).
class IoError : public Error {
 public:
  IoError(std::string path, std::string operation, int errno_value);
  IoError(std::string path, std::string operation, std::string reason);
};

// Wraps a name in single quotes for messages: quote("conv2d") == "'conv2d'".
std::string quote(const std::string& s);

}  // namespace cnn
