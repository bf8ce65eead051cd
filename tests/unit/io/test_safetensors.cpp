// safetensors: bit-exact round trips, the exact bytes we write, files written by hand, and one
// FormatError (file, byte offset, tensor) for every way a header or data section can be wrong.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "io/temp_dir.hpp"
#include "tensor/error.hpp"

using cnn::FormatError;
using cnn::InputError;
using cnn::IoError;
using cnn::Shape;
using cnn::io::read_safetensors;
using cnn::io::SafetensorsFile;
using cnn::io::TensorView;
using cnn::io::write_safetensors;
using cnn::test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string s(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
  return s;
}

// A safetensors file from its parts: length field, header text as given, data bytes.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

void write_raw(const std::string& path, const std::string& bytes) {
  cnn::io::write_file_atomically(path, bytes);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("safetensors round trip is bit-exact, with scalars, empty tensors and metadata") {
  TempDir dir;
  const std::string path = dir.file("weights.safetensors");
  std::vector<float> kernel(3 * 3 * 1 * 2);
  for (std::size_t i = 0; i < kernel.size(); ++i) kernel[i] = std::sin(float(i) + 0.5f) * 1e3f;
  // Values a text format would lose: signed zero, infinities, a NaN payload, a denormal.
  std::uint32_t nan_bits = 0x7fc01234u;
  float nan_payload;
  std::memcpy(&nan_payload, &nan_bits, 4);
  const std::vector<float> bias{-0.0f, std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(), nan_payload,
                                std::numeric_limits<float>::denorm_min()};
  const std::vector<float> scalar{42.5f};
  const std::vector<TensorView> tensors{
      {"conv2d.kernel", {3, 3, 1, 2}, kernel.data()},
      {"conv2d.bias", {5}, bias.data()},
      {"step", {}, scalar.data()},
      {"empty", {0}, nullptr},
      {"empty_2d", {2, 0, 3}, nullptr},
  };
  const std::map<std::string, std::string> metadata{
      {"format", "cnn-weights-1"},
      {"architecture", R"({"name": "m", "layers": []})"},
      {"unicode", "caf\xc3\xa9 \xe2\x9c\x93"},
      {"empty", ""}};
  write_safetensors(path, tensors, metadata);
  CHECK(dir.entries() == std::set<std::string>{"weights.safetensors"});

  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.path == path);
  CHECK(f.metadata == metadata);
  CHECK(f.data_offset % 8 == 0);  // the writer pads the header
  REQUIRE(f.tensors.size() == 5);
  // Data order is the order given (zero-size tensors sit at the end, at the same offset).
  CHECK(f.tensors[0].name == "conv2d.kernel");
  CHECK(f.tensors[1].name == "conv2d.bias");
  CHECK(f.tensors[2].name == "step");
  for (const auto& t : f.tensors) CHECK(t.dtype == "F32");

  REQUIRE(f.find("conv2d.kernel") != nullptr);
  CHECK(f.find("conv2d.kernel")->shape == Shape{3, 3, 1, 2});
  CHECK(same_bits(f.read_f32(*f.find("conv2d.kernel")), kernel));
  CHECK(same_bits(f.read_f32(*f.find("conv2d.bias")), bias));
  CHECK(f.find("step")->shape.empty());
  CHECK(same_bits(f.read_f32(*f.find("step")), scalar));
  CHECK(f.find("empty")->shape == Shape{0});
  CHECK(f.read_f32(*f.find("empty")).empty());
  CHECK(f.find("empty_2d")->shape == Shape{2, 0, 3});
  CHECK(f.find("missing") == nullptr);

  float out[5];
  f.read_f32(*f.find("conv2d.bias"), out, 5);
  CHECK(std::memcmp(out, bias.data(), sizeof out) == 0);
  CHECK_THROWS_WITH_AS(f.read_f32(*f.find("conv2d.bias"), out, 4),
                       doctest::Contains("tensor 'conv2d.bias' of shape (5,): expected 4 values, "
                                         "got 5"),
                       FormatError);
}

TEST_CASE("safetensors writes the exact bytes of the format") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const std::vector<float> w{1.0f, -2.0f};
  write_safetensors(path, {{"w", {2}, w.data()}}, {{"format", "pt"}});
  std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  CHECK(cnn::io::read_file(path) == safetensors_bytes(header, f32_bytes(w)));

  // No tensors and no metadata: "{}" padded to 8 bytes, no data.
  write_safetensors(path, {}, {});
  CHECK(cnn::io::read_file(path) == le64(8) + "{}      ");
  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.tensors.empty());
  CHECK(f.metadata.empty());
}

TEST_CASE("a file written by hand (padded header, any key order, every dtype) is read") {
  TempDir dir;
  const std::string path = dir.file("hand.safetensors");
  // A U8 tensor first puts the F32 tensor after it at an unaligned address.
  const std::string header = R"({"b": {"dtype": "U8", "shape": [3], "data_offsets": [8, 11]},
      "__metadata__": {"k": "v"},
      "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "c": {"dtype": "F32", "shape": [], "data_offsets": [11, 15]}}      )";
  const std::string data =
      f32_bytes({1.5f, -3.25f}) + std::string("\x01\x02\x03", 3) + f32_bytes({7.0f});
  write_raw(path, safetensors_bytes(header, data));
  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.data_offset == 8 + header.size());
  CHECK(f.metadata == std::map<std::string, std::string>{{"k", "v"}});
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].name == "a");
  CHECK(f.tensors[1].name == "b");
  CHECK(f.tensors[2].name == "c");
  CHECK(f.read_f32(f.tensors[0]) == std::vector<float>{1.5f, -3.25f});
  CHECK(f.read_f32(f.tensors[2]) == std::vector<float>{7.0f});
  CHECK(f.tensors[1].dtype == "U8");
  CHECK(f.tensors[1].shape == Shape{3});
  try {
    (void)f.read_f32(f.tensors[1]);
    FAIL("no throw");
  } catch (const FormatError& e) {
    CHECK(e.offset() == f.data_offset + 8);
    CHECK(std::string(e.what()) ==
          path + "@" + std::to_string(f.data_offset + 8) +
              ": tensor 'b': dtype cannot be loaded as float32; expected F32, got U8");
  }

  // Every dtype of the format parses, with its element size.
  const std::vector<std::pair<std::string, std::size_t>> dtypes{
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  std::string all = "{";
  std::uint64_t offset = 0;
  for (const auto& [name, size] : dtypes) {
    CHECK(cnn::io::safetensors_dtype_size(name) == size);
    if (all.size() > 1) all += ",";
    all += "\"t_" + name + "\":{\"dtype\":\"" + name + "\",\"shape\":[2],\"data_offsets\":[" +
           std::to_string(offset) + "," + std::to_string(offset + 2 * size) + "]}";
    offset += 2 * size;
  }
  all += "}";
  write_raw(path, safetensors_bytes(all, std::string(offset, '\0')));
  const SafetensorsFile g = read_safetensors(path);
  CHECK(g.tensors.size() == dtypes.size());
  CHECK(g.find("t_BF16")->dtype == "BF16");
  CHECK_THROWS_AS((void)g.read_f32(*g.find("t_F16")), FormatError);
  CHECK(g.read_f32(*g.find("t_F32")) == std::vector<float>{0.0f, 0.0f});
  CHECK_FALSE(cnn::io::safetensors_dtype_size("F33").has_value());
}

namespace {

// Where a bad file's error must point: an absolute offset, or one relative to the data section.
enum class Base { kFile, kData };

struct BadCase {
  const char* what;
  std::string header;
  std::string data;
  Base base;
  std::uint64_t offset;
  std::vector<std::string> parts;  // substrings of the message besides the path
};

const std::string kF32x2 = R"("dtype": "F32", "shape": [2])";

}  // namespace

TEST_CASE("every malformed header or data section raises FormatError with file, offset, tensor") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string eight(8, '\0');
  const std::vector<BadCase> cases{
      {"not an object", "[1, 2]", "", Base::kFile, 8, {"header: expected a JSON object"}},
      {"entry not an object",
       R"({"w": 3})",
       "",
       Base::kFile,
       8,
       {"tensor 'w'", "expected an object"}},
      {"missing dtype",
       R"({"w": {"shape": [2], "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "missing field 'dtype'"}},
      {"missing shape",
       R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "missing field 'shape'"}},
      {"missing offsets",
       R"({"w": {"dtype": "F32", "shape": [2]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "missing field 'data_offsets'"}},
      {"extra key",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [0, 8], "crc": 1}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "unknown field 'crc'"}},
      {"unknown dtype",
       R"({"w": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "unknown dtype 'F33'", "expected one of BOOL", "did you mean"}},
      {"dtype not a string",
       R"({"w": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "dtype: expected a string, got 4"}},
      {"negative dim",
       R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "shape: expected a list of non-negative integers, got [-2]"}},
      {"fractional dim",
       R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "shape: expected a list of non-negative integers"}},
      {"shape not a list",
       R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "shape: expected a list"}},
      {"huge shape",
       R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296],
          "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "too large"}},
      {"offsets decreasing",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [8, 0]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "data_offsets: expected [begin, end]", "got [8,0]"}},
      {"one offset",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "data_offsets: expected [begin, end]"}},
      {"string offset",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [0, "8"]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "data_offsets: expected [begin, end]"}},
      {"negative offset",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [-1, 7]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w'", "data_offsets: expected [begin, end]"}},
      {"span != numel * size",
       R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
       eight,
       Base::kData,
       0,
       {"tensor 'w'", "span 8 bytes; expected 12 (F32 shape (3,): 3 x 4 bytes)"}},
      {"span of F64",
       R"({"a": {)" + kF32x2 + R"(, "data_offsets": [0, 8]},
          "w": {"dtype": "F64", "shape": [2], "data_offsets": [8, 16]}})",
       eight + eight,
       Base::kData,
       8,
       {"tensor 'w'", "span 8 bytes; expected 16"}},
      {"beyond data",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [4, 12]}})",
       eight,
       Base::kData,
       4,
       {"tensor 'w'", "[4, 12] go beyond the data section; expected end <= 8"}},
      {"absurd offsets",
       R"({"w": {)" + kF32x2 +
           R"(, "data_offsets": [18446744073709551607, 18446744073709551615]}})",
       eight,
       Base::kFile,
       std::numeric_limits<std::uint64_t>::max(),
       {"tensor 'w'", "go beyond the data section"}},
      {"overlap",
       R"({"a": {)" + kF32x2 + R"(, "data_offsets": [0, 8]},
          "b": {)" +
           kF32x2 + R"(, "data_offsets": [4, 12]}})",
       eight + "1234",
       Base::kData,
       4,
       {"tensor 'b'", "overlap tensor 'a' [0, 8]"}},
      {"same range twice",
       R"({"a": {)" + kF32x2 + R"(, "data_offsets": [0, 8]},
          "b": {)" +
           kF32x2 + R"(, "data_offsets": [0, 8]}})",
       eight,
       Base::kData,
       0,
       {"tensor 'b'", "overlap tensor 'a'"}},
      {"empty tensor inside another",
       R"({"a": {)" + kF32x2 + R"(, "data_offsets": [0, 8]},
          "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
       eight,
       Base::kData,
       4,
       {"tensor 'e'", "overlap tensor 'a'"}},
      {"hole",
       R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
       eight + "1234",
       Base::kData,
       4,
       {"tensor 'b'", "hole of 4 unused bytes"}},
      {"hole at start",
       R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
       eight,
       Base::kData,
       0,
       {"tensor 'b'", "hole of 4 unused bytes"}},
      {"trailing bytes",
       R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
       eight,
       Base::kData,
       4,
       {"4 unused bytes after the last tensor 'a'"}},
      {"data but no tensors",
       R"({"__metadata__": {}})",
       eight,
       Base::kData,
       0,
       {"8 unused bytes but the header has no tensors"}},
      {"metadata value not a string",
       R"({"__metadata__": {"epochs": 3}})",
       "",
       Base::kFile,
       8,
       {"__metadata__: 'epochs': expected a string, got 3"}},
      {"metadata not an object",
       R"({"__metadata__": ["a"]})",
       "",
       Base::kFile,
       8,
       {"__metadata__: expected an object of strings"}},
      {"duplicate tensor",
       R"({"w": {)" + kF32x2 + R"(, "data_offsets": [0, 8]},
          "w": {)" +
           kF32x2 + R"(, "data_offsets": [8, 16]}})",
       eight + eight,
       Base::kFile,
       8,
       {"tensor 'w': the name appears more than once"}},
      {"duplicate field",
       R"({"w": {"dtype": "F64", )" + kF32x2 + R"(, "data_offsets": [0, 8]}})",
       eight,
       Base::kFile,
       8,
       {"tensor 'w': field 'dtype' appears more than once"}},
      {"duplicate metadata key",
       R"({"__metadata__": {"k": "a", "k": "b"}})",
       "",
       Base::kFile,
       8,
       {"__metadata__: field 'k' appears more than once"}},
  };
  for (const BadCase& c : cases) {
    INFO(std::string(c.what));
    write_raw(path, safetensors_bytes(c.header, c.data));
    const std::uint64_t expected =
        c.base == Base::kFile ? c.offset : 8 + c.header.size() + c.offset;
    try {
      (void)read_safetensors(path);
      FAIL("no throw");
    } catch (const FormatError& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(e.file() == path);
      CHECK(e.offset() == expected);
      CHECK(m.rfind(path + "@" + std::to_string(expected) + ": ", 0) == 0);
      for (const auto& part : c.parts) CHECK(contains(m, part));
    }
  }
}

TEST_CASE("bad lengths and JSON syntax point at the byte") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto expect = [&](const std::string& bytes, std::uint64_t offset, const std::string& part) {
    write_raw(path, bytes);
    try {
      (void)read_safetensors(path);
      FAIL("no throw");
    } catch (const FormatError& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(e.offset() == offset);
      CHECK(m.rfind(path + "@" + std::to_string(offset) + ": ", 0) == 0);
      CHECK(contains(m, part));
    }
  };
  expect("", 0, "file is 0 bytes, too short for a safetensors header; expected at least 8");
  expect(std::string("\x02\0\0\0\0", 5), 0, "file is 5 bytes");
  expect(le64(100) + "{}", 0,
         "header length 100 is larger than the rest of the file; expected at most 2");
  // 2^64 - 1: must be refused without trying to allocate it.
  expect(le64(~std::uint64_t{0}) + "{}", 0, "header length 18446744073709551615 is larger");
  // Syntax errors: the offset is the byte where parsing failed (8 + position in the header).
  const std::string broken = R"({"w": {"dtype": "F32",, "shape": [2]}})";
  expect(safetensors_bytes(broken, ""), 8 + broken.find(",,") + 1, "header is not valid JSON");
  expect(safetensors_bytes("", ""), 8, "header is not valid JSON");
  expect(safetensors_bytes("{\"w\": ", ""), 8 + 6, "header is not valid JSON");
  // Names must be UTF-8; the parser stops at the bad byte.
  expect(safetensors_bytes("{\"w\xff\": 1}", ""), 8 + 3, "header is not valid JSON");
  // A number no double holds has no parse position: the header's start.
  expect(safetensors_bytes(R"({"x": 1e999})", ""), 8 + 6,
         "header is not valid JSON: number overflow");
  // Trailing bytes that are not whitespace are not padding.
  expect(safetensors_bytes("{}xx", ""), 8 + 2, "header is not valid JSON");

  // Over the 100 MB limit: a sparse file large enough that the length fits in it.
  const std::uint64_t big = cnn::io::kSafetensorsMaxHeader + 1;
  write_raw(path, le64(big) + "{}");
  std::filesystem::resize_file(path, 8 + big + 16);
  try {
    (void)read_safetensors(path);
    FAIL("no throw");
  } catch (const FormatError& e) {
    CHECK(e.offset() == 0);
    CHECK(contains(e.what(),
                   "header length 100000001 is larger than the limit; expected at most "
                   "100000000"));
  }
}

TEST_CASE("a missing weights file is an InputError, not a FormatError") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(read_safetensors(dir.file("none.safetensors")),
                       (dir.file("none.safetensors") + ": no such file").c_str(), InputError);
}

TEST_CASE("write_safetensors refuses caller bugs and missing directories") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const float x[2] = {1.0f, 2.0f};
  CHECK_THROWS_WITH_AS(write_safetensors(path, {{"a", {1}, x}, {"a", {1}, x + 1}}),
                       doctest::Contains("tensor 'a' is given twice"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(write_safetensors(path, {{"__metadata__", {1}, x}}),
                       doctest::Contains("reserved"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(write_safetensors(path, {{"a", {2}, nullptr}}),
                       doctest::Contains("tensor 'a' has no data"), std::invalid_argument);
  CHECK_THROWS_AS(write_safetensors(path, {{"bad\xff", {1}, x}}), std::invalid_argument);
  CHECK(dir.entries().empty());
  const std::string nowhere = dir.file("no/such/dir/w.safetensors");
  CHECK_THROWS_WITH_AS(write_safetensors(nowhere, {{"a", {2}, x}}),
                       doctest::Contains((nowhere + ": cannot create temporary file").c_str()),
                       IoError);
}

TEST_CASE("a failed write keeps the previous weights file") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const float x[2] = {1.0f, 2.0f};
  write_safetensors(path, {{"a", {2}, x}});
  const std::string before = cnn::io::read_file(path);
  CHECK_THROWS_AS(write_safetensors(path, {{"b", {2}, x}, {"b", {2}, x}}), std::invalid_argument);
  CHECK(cnn::io::read_file(path) == before);
  CHECK(dir.entries() == std::set<std::string>{"w.safetensors"});
}
