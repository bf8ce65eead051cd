// The safetensors weights format (huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {string: string}} padded with spaces, then the raw little-endian data, which
// the tensors must cover exactly (no holes, no overlaps). Offsets in the header are relative to
// the data section, which starts at byte 8 + N.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.hpp"

namespace cnn::io {

// The largest header accepted, the same limit as the reference implementation.
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;

// Bytes per element of a safetensors dtype ("F32" -> 4), or nullopt if the name is not one of
// BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64.
std::optional<std::size_t> safetensors_dtype_size(std::string_view dtype);

// A float32 tensor to write: row-major, numel(shape) values at data (which may be null only
// when the tensor is empty). An empty shape is a scalar (one value).
struct TensorView {
  std::string name;
  Shape shape;
  const float* data = nullptr;
};

// Writes tensors (dtype F32) atomically to path, their data contiguous in the order given, and
// metadata as "__metadata__" (omitted when empty). The header is padded with spaces so the data
// starts at a multiple of 8 bytes, as the reference writer does.
// Throws IoError if the file cannot be written, and std::invalid_argument (a caller's bug) for
// a duplicate or reserved ("__metadata__") name, a name that is not valid UTF-8, or null data.
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// One tensor of a file as its header describes it.
struct SafeTensor {
  std::string name;
  std::string dtype;        // "F32", "F16", ...: any dtype of the format
  Shape shape;              // empty for a scalar
  std::uint64_t begin = 0;  // byte range [begin, end) in the data section
  std::uint64_t end = 0;
};

// A validated safetensors file held in memory.
struct SafetensorsFile {
  std::string path;
  std::uint64_t data_offset = 0;  // absolute file offset of the data section: 8 + N
  std::map<std::string, std::string> metadata;
  std::vector<SafeTensor> tensors;  // in data order (by begin)
  std::vector<char> bytes;          // the data section

  // The tensor called name, or nullptr. Load by name, never by position (STYLE.md §7).
  const SafeTensor* find(const std::string& name) const;

  // The values of an F32 tensor. Throws FormatError naming the file, the tensor's data offset
  // and the tensor if its dtype is not F32.
  std::vector<float> read_f32(const SafeTensor& t) const;
  // The same into dst, which holds count floats; count must equal the tensor's element count
  // (FormatError naming the tensor, the expected and the actual count otherwise).
  void read_f32(const SafeTensor& t, float* dst, std::size_t count) const;
};

// Reads and validates path. Throws InputError if it cannot be opened, and FormatError
// ("path@offset: tensor 'name': problem; expected X, got Y") if it is shorter than 8 bytes, its
// header length is larger than the file or than kSafetensorsMaxHeader, the header is not a JSON
// object (the offset is then where parsing failed), a key is duplicated, an entry lacks or adds
// fields, has an unknown dtype, a shape that is not a list of non-negative integers, or
// data_offsets that are not [begin, end] with begin <= end, a byte span that differs from
// numel(shape) x dtype size, data beyond the data section, or tensors that overlap, leave a hole
// or leave bytes after the last tensor; or if a metadata value is not a string.
// Offsets are absolute: 0 for the length field, 8 for header problems, 8 + N + begin for a
// tensor's data.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace cnn::io
