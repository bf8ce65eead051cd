// IDX files (the MNIST format), plain or gzipped: a big-endian header (two zero bytes, a data
// type code, the number of dimensions, then each dimension as a uint32) and row-major data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnn::io {

// The IDX data type codes (byte 2 of the magic number). Only unsigned bytes are read.
enum class IdxType : std::uint8_t {
  u8 = 0x08,
  i8 = 0x09,
  i16 = 0x0B,
  i32 = 0x0C,
  f32 = 0x0D,
  f64 = 0x0E,
};

// One IDX array of unsigned bytes.
struct IdxArray {
  std::vector<std::size_t> dims;   // e.g. {10000, 28, 28} for images, {10000} for labels
  std::vector<std::uint8_t> data;  // row-major, product(dims) bytes

  // dims[0]: the number of items (images, labels).
  std::size_t count() const { return dims.empty() ? 0 : dims[0]; }
  // Bytes per item: the product of dims[1..] (1 for labels).
  std::size_t item_size() const;
};

// Reads an IDX file of unsigned bytes (magic 0x000008NN for N dimensions). A file starting with
// the gzip magic 1f 8b is decompressed first (concatenated gzip members are accepted).
// expected_ndim, when given, is checked against the magic (3 for images, 1 for labels).
// Throws InputError if the file cannot be read, and FormatError(path, byte offset, sentence)
// for a wrong magic, an unsupported data type, a zero dimension, truncated data (the offset
// where the data ended and the number of bytes expected) or bytes after the data. In a gzipped
// file the offsets count bytes of the decompressed data, except for errors of the gzip stream
// itself, which give the offset in the compressed file.
IdxArray read_idx(const std::string& path, std::optional<std::size_t> expected_ndim = {});

// Parses IDX bytes already in memory (decompressed); path names them in errors.
IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& path,
                   std::optional<std::size_t> expected_ndim = {});

// Images and their labels, checked against each other.
struct IdxPair {
  std::string images_path, labels_path;
  IdxArray images;  // [n, h, w] (magic 0x00000803) or [n, h, w, c] (0x00000804)
  IdxArray labels;  // [n] (magic 0x00000801)
};

// Reads an image file and a label file. Throws as read_idx does, and DataError when the label
// count differs from the image count (naming both files and both counts), or, with num_classes
// given, when a label is >= num_classes (naming the labels file, the sample and its offset).
IdxPair read_idx_pair(const std::string& images_path, const std::string& labels_path,
                      std::optional<std::size_t> num_classes = {});

}  // namespace cnn::io
