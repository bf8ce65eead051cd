// NumPy .npy arrays (format versions 1.0, 2.0 and 3.0): the exchange format of pretrained
// weights folders (cnn-import npy) and of extracted features (cnn-extract-features), readable by
// numpy.load as is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"

namespace cnn::io {

// A .npy array converted to float32, C (row-major) order.
struct NpyArray {
  std::vector<std::size_t> shape;  // empty for a 0-d array (one element)
  std::vector<float> data;
  std::string dtype;  // the file's descr, e.g. "<f4"

  std::size_t size() const { return data.size(); }
};

// Parses a whole .npy file held in memory; name is used in errors. Accepted dtypes: float32,
// float64, float16, int8/16/32/64, uint8/16/32/64 and bool, little- or big-endian, converted to
// float32. Throws FormatError(name, byte offset, sentence) for a bad magic, an unknown version,
// a malformed header dictionary, Fortran order, an unsupported dtype (object, complex, strings,
// structured) and a data section shorter or longer than the shape says.
NpyArray parse_npy(const std::uint8_t* data, std::size_t size, const std::string& name);

// Reads path (InputError if it cannot be read) and parses it.
NpyArray read_npy(const std::string& path);

// The header of a float32 C-order .npy array of the given shape (magic, version 1.0 or 2.0 when
// the header needs it, dictionary, padding to a multiple of 64 bytes, newline).
std::string npy_header(const std::vector<std::size_t>& shape);
// The same for another dtype descr, e.g. "<i4" (int32 labels of extracted features).
std::string npy_header(const std::vector<std::size_t>& shape, const std::string& descr);

// Writes a float32 array (numel(shape) values) atomically.
void write_npy(const std::string& path, const std::vector<std::size_t>& shape, const float* data);

// A float32 .npy written row by row (features of a dataset, one sample at a time): the shape
// is fixed up front; commit() checks that exactly shape[0] rows were written. Nothing appears at
// path unless commit() succeeds.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, std::vector<std::size_t> shape);
  // Appends rows (each numel(shape[1:]) floats).
  void write_rows(const float* data, std::size_t rows);
  void commit();

 private:
  AtomicFile file_;
  std::vector<std::size_t> shape_;
  std::size_t row_numel_ = 1, rows_ = 0;
};

}  // namespace cnn::io
