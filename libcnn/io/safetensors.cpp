// Reading and writing safetensors files. The reader trusts nothing in the file: every length and
// offset is checked against the file before it is used, and the tensors must tile the data
// section exactly, as the format requires.
#include "io/safetensors.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "io/atomic_file.hpp"
#include "tensor/config.hpp"
#include "tensor/error.hpp"

namespace cnn::io {

// Tensor data is copied to and from the file as raw host floats; the format is little-endian.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
              "safetensors F32 is IEEE 754 binary32");

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::uint64_t kLengthBytes = 8;

struct DtypeInfo {
  std::string_view name;
  std::size_t size;
};

// The dtypes of the format with their element sizes.
constexpr std::array<DtypeInfo, 15> kDtypes{{{"BOOL", 1},
                                             {"U8", 1},
                                             {"I8", 1},
                                             {"F8_E5M2", 1},
                                             {"F8_E4M3", 1},
                                             {"I16", 2},
                                             {"U16", 2},
                                             {"F16", 2},
                                             {"BF16", 2},
                                             {"I32", 4},
                                             {"U32", 4},
                                             {"F32", 4},
                                             {"F64", 8},
                                             {"I64", 8},
                                             {"U64", 8}}};

std::vector<std::string> dtype_names() {
  std::vector<std::string> names;
  for (const auto& d : kDtypes) names.emplace_back(d.name);
  return names;
}

// How a header key is named in messages.
std::string subject(const std::string& key) {
  return key == kMetadataKey ? std::string(kMetadataKey) : "tensor " + quote(key);
}

// The absolute file offset of byte rel of the data section, for messages; saturates for the
// absurd offsets a corrupt header may hold.
std::uint64_t at_data(std::uint64_t data_offset, std::uint64_t rel) {
  return rel > std::numeric_limits<std::uint64_t>::max() - data_offset
             ? std::numeric_limits<std::uint64_t>::max()
             : data_offset + rel;
}

std::string range_str(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Parses the header text, rejecting duplicate keys at any depth: nlohmann keeps only one of
// them, which would let two entries alias one name (and a checked file differ from the one a
// different reader sees).
json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;  // keys seen, one set per open object
  std::string top_key;                              // the current top-level key
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (open_objects.size() == 1) top_key = key;
        if (!open_objects.empty() && !open_objects.back().insert(key).second) {
          const std::string problem =
              open_objects.size() == 1
                  ? subject(key) + ": the name appears more than once in the header"
                  : subject(top_key) + ": field " + quote(key) + " appears more than once";
          throw FormatError(path, kLengthBytes, problem + "; expected unique keys");
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  return parse_json_at(text, path, kLengthBytes, check);
}

// A JSON unsigned integer, or nullopt (negative, fractional, not a number).
std::optional<std::uint64_t> as_u64(const json& v) {
  if (!v.is_number_unsigned()) return std::nullopt;
  return v.get<std::uint64_t>();
}

// Checks one tensor entry of the header and returns it; data_size is the data section's size,
// data_offset its absolute offset (for messages).
SafeTensor check_entry(const std::string& path, const std::string& name, const json& entry,
                       std::uint64_t data_offset, std::uint64_t data_size) {
  const std::string who = subject(name);
  auto header_error = [&](const std::string& problem) {
    return FormatError(path, kLengthBytes, who + ": " + problem);
  };
  if (!entry.is_object()) {
    throw header_error("expected an object with dtype, shape and data_offsets, got " +
                       json_brief(entry));
  }
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      throw header_error("unknown field " + quote(key) +
                         "; expected only dtype, shape and data_offsets");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) throw header_error(std::string("missing field '") + key + "'");
  }

  SafeTensor t;
  t.name = name;
  const json& dtype = entry.at("dtype");
  if (!dtype.is_string()) throw header_error("dtype: expected a string, got " + json_brief(dtype));
  t.dtype = dtype.get<std::string>();
  const auto elem_size = safetensors_dtype_size(t.dtype);
  if (!elem_size) {
    throw header_error("unknown dtype " + quote(t.dtype) + "; " +
                       choices_hint(t.dtype, dtype_names()));
  }

  const json& shape = entry.at("shape");
  const std::string shape_expected = "expected a list of non-negative integers, got ";
  if (!shape.is_array()) throw header_error("shape: " + shape_expected + json_brief(shape));
  std::uint64_t count = 1;
  bool overflow = false, empty = false;
  for (const json& d : shape) {
    const auto dim = as_u64(d);
    if (!dim) throw header_error("shape: " + shape_expected + json_brief(shape));
    t.shape.push_back(static_cast<std::size_t>(*dim));
    if (*dim == 0) empty = true;
    if (*dim != 0 && count > std::numeric_limits<std::uint64_t>::max() / *dim) overflow = true;
    count *= *dim;
  }
  // A zero dimension makes the tensor empty whatever the other dimensions are.
  if (empty) {
    overflow = false;
    count = 0;
  }
  if (overflow || count > std::numeric_limits<std::uint64_t>::max() / *elem_size) {
    throw header_error("shape " + shape_str(t.shape) + " is too large to address");
  }
  const std::uint64_t expected_bytes = count * *elem_size;

  const json& offsets = entry.at("data_offsets");
  std::optional<std::uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = as_u64(offsets[0]);
    end = as_u64(offsets[1]);
  }
  if (!begin || !end || *begin > *end) {
    throw header_error("data_offsets: expected [begin, end] with integers 0 <= begin <= end, got " +
                       json_brief(offsets));
  }
  t.begin = *begin;
  t.end = *end;
  if (t.end - t.begin != expected_bytes) {
    throw FormatError(path, at_data(data_offset, t.begin),
                      who + ": data_offsets " + range_str(t.begin, t.end) + " span " +
                          std::to_string(t.end - t.begin) + " bytes; expected " +
                          std::to_string(expected_bytes) + " (" + t.dtype + " shape " +
                          shape_str(t.shape) + ": " + std::to_string(count) + " x " +
                          std::to_string(*elem_size) + " bytes)");
  }
  if (t.end > data_size) {
    throw FormatError(
        path, at_data(data_offset, t.begin),
        who + ": data_offsets " + range_str(t.begin, t.end) +
            " go beyond the data section; expected end <= " + std::to_string(data_size));
  }
  return t;
}

// Checks that the tensors (sorted by begin) tile [0, data_size) exactly.
void check_coverage(const std::string& path, const std::vector<SafeTensor>& tensors,
                    std::uint64_t data_offset, std::uint64_t data_size) {
  std::uint64_t cursor = 0;
  const SafeTensor* previous = nullptr;
  for (const SafeTensor& t : tensors) {
    if (t.begin < cursor) {
      throw FormatError(path, at_data(data_offset, t.begin),
                        "tensor " + quote(t.name) + ": data_offsets " + range_str(t.begin, t.end) +
                            " overlap tensor " + quote(previous->name) + " " +
                            range_str(previous->begin, previous->end) +
                            "; expected disjoint byte ranges");
    }
    if (t.begin > cursor) {
      throw FormatError(path, at_data(data_offset, cursor),
                        "tensor " + quote(t.name) + ": data starts at " + std::to_string(t.begin) +
                            ", leaving a hole of " + std::to_string(t.begin - cursor) +
                            " unused bytes; expected the tensors to cover the data section "
                            "without gaps");
    }
    cursor = t.end;
    previous = &t;
  }
  if (cursor != data_size) {
    const std::string after = previous ? " after the last tensor " + quote(previous->name)
                                       : " but the header has no tensors";
    throw FormatError(path, at_data(data_offset, cursor),
                      "data section has " + std::to_string(data_size - cursor) + " unused bytes" +
                          after + "; expected the tensors to cover the data section exactly");
  }
}

void put_u64_le(std::uint64_t v, unsigned char out[8]) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::uint64_t get_u64_le(const unsigned char in[8]) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

std::optional<std::size_t> safetensors_dtype_size(std::string_view dtype) {
  for (const auto& d : kDtypes) {
    if (d.name == dtype) return d.size;
  }
  return std::nullopt;
}

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the header in data order, which makes files easy to read by eye.
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const TensorView& t : tensors) {
    if (t.name == kMetadataKey) {
      throw std::invalid_argument(path + ": tensor name '__metadata__' is reserved");
    }
    if (!names.insert(t.name).second) {
      throw std::invalid_argument(path + ": tensor " + quote(t.name) + " is given twice");
    }
    const std::uint64_t bytes = static_cast<std::uint64_t>(numel(t.shape)) * sizeof(float);
    if (bytes > 0 && t.data == nullptr) {
      throw std::invalid_argument(path + ": tensor " + quote(t.name) + " has no data");
    }
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ordered_json::type_error&) {
    throw std::invalid_argument(path + ": a tensor name or metadata string is not valid UTF-8");
  }
  // Pad with spaces so the data section starts 8-byte aligned (8 + N is a multiple of 8).
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomically(path, [&](AtomicFile& f) {
    unsigned char length[8];
    put_u64_le(text.size(), length);
    f.write(length, sizeof length);
    f.write(text);
    for (const TensorView& t : tensors) {
      const std::size_t n = numel(t.shape);
      if (n > 0) f.write(t.data, n * sizeof(float));
    }
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  InputFile in(path);
  const std::uint64_t file_size = in.size();
  if (file_size < kLengthBytes) {
    throw FormatError(path, 0,
                      "file is " + std::to_string(file_size) +
                          " bytes, too short for a safetensors header; expected at least 8");
  }
  unsigned char length_bytes[8];
  in.read_at(0, length_bytes, sizeof length_bytes);
  const std::uint64_t header_size = get_u64_le(length_bytes);
  // Both checks come before the header is allocated: a corrupt length must not allocate 2^64.
  if (header_size > file_size - kLengthBytes) {
    throw FormatError(path, 0,
                      "header length " + std::to_string(header_size) +
                          " is larger than the rest of the file; expected at most " +
                          std::to_string(file_size - kLengthBytes));
  }
  if (header_size > kSafetensorsMaxHeader) {
    throw FormatError(path, 0,
                      "header length " + std::to_string(header_size) +
                          " is larger than the limit; expected at most " +
                          std::to_string(kSafetensorsMaxHeader));
  }
  std::string text(static_cast<std::size_t>(header_size), '\0');
  in.read_at(kLengthBytes, text.data(), text.size());

  SafetensorsFile file;
  file.path = path;
  file.data_offset = kLengthBytes + header_size;
  const std::uint64_t data_size = file_size - file.data_offset;

  const json header = parse_header(path, text);
  if (!header.is_object()) {
    throw FormatError(path, kLengthBytes,
                      "header: expected a JSON object, got " + json_brief(header));
  }
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) {
        throw FormatError(path, kLengthBytes,
                          "__metadata__: expected an object of strings, got " + json_brief(value));
      }
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          throw FormatError(
              path, kLengthBytes,
              "__metadata__: " + quote(mkey) + ": expected a string, got " + json_brief(mvalue));
        }
        file.metadata.emplace(mkey, mvalue.get<std::string>());
      }
      continue;
    }
    file.tensors.push_back(check_entry(path, key, value, file.data_offset, data_size));
  }
  // Zero-size tensors share their begin with the next tensor; order them first so the cursor
  // check below sees them at the right place. Names break ties for a deterministic order.
  std::sort(file.tensors.begin(), file.tensors.end(), [](const SafeTensor& a, const SafeTensor& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  check_coverage(path, file.tensors, file.data_offset, data_size);

  file.bytes.resize(static_cast<std::size_t>(data_size));
  in.read_at(file.data_offset, file.bytes.data(), file.bytes.size());
  return file;
}

const SafeTensor* SafetensorsFile::find(const std::string& name) const {
  // A linear scan: models have at most a few hundred tensors, and each is read once.
  for (const SafeTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<float> SafetensorsFile::read_f32(const SafeTensor& t) const {
  std::vector<float> values(static_cast<std::size_t>((t.end - t.begin) / sizeof(float)));
  read_f32(t, values.data(), values.size());
  return values;
}

void SafetensorsFile::read_f32(const SafeTensor& t, float* dst, std::size_t count) const {
  if (t.dtype != "F32") {
    throw FormatError(path, at_data(data_offset, t.begin),
                      "tensor " + quote(t.name) +
                          ": dtype cannot be loaded as float32; expected F32, got " + t.dtype);
  }
  const std::size_t n = numel(t.shape);
  if (count != n) {
    throw FormatError(path, at_data(data_offset, t.begin),
                      "tensor " + quote(t.name) + " of shape " + shape_str(t.shape) +
                          ": expected " + std::to_string(count) + " values, got " +
                          std::to_string(n));
  }
  // read_safetensors validated the offsets; this guards SafeTensors built by hand.
  if (t.end > bytes.size() || t.end - t.begin != n * sizeof(float)) {
    throw FormatError(path, at_data(data_offset, t.begin),
                      "tensor " + quote(t.name) + ": data_offsets " + range_str(t.begin, t.end) +
                          " do not fit the data section of " + std::to_string(bytes.size()) +
                          " bytes");
  }
  // memcpy because begin need not be 4-byte aligned (a U8 tensor may come first).
  if (n > 0) std::memcpy(dst, bytes.data() + t.begin, n * sizeof(float));
}

}  // namespace cnn::io
