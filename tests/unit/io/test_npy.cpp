// .npy reading and writing: every dtype the reader converts, byte order, header versions, the
// real SqueezeNet weights, round trips through the writers, and a FormatError with the byte
// offset for each malformed file.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::DataError;
using cnn::FormatError;
using cnn::io::NpyArray;
using cnn::io::parse_npy;
using cnn::test::TempDir;

namespace {

// A version 1.0 file with the given dictionary text and data bytes (header padded to 64).
std::vector<std::uint8_t> npy_bytes(const std::string& dict, const std::vector<std::uint8_t>& data,
                                    int version = 1) {
  std::string h = dict;
  const std::size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::vector<std::uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(version),
                                 0};
  b.push_back(static_cast<std::uint8_t>(h.size() & 0xff));
  b.push_back(static_cast<std::uint8_t>(h.size() >> 8));
  if (version != 1) b.insert(b.end(), {0, 0});
  b.insert(b.end(), h.begin(), h.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

NpyArray parse(const std::vector<std::uint8_t>& b) {
  return parse_npy(b.data(), b.size(), "x.npy");
}

std::string error_of(const std::vector<std::uint8_t>& b) {
  try {
    parse(b);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("npy: float32 little-endian, C order, shape and values") {
  std::vector<std::uint8_t> data(6 * 4);
  const float v[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-3f, -7.0f};
  std::memcpy(data.data(), v, sizeof v);
  auto a = parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));
  CHECK(a.shape == std::vector<std::size_t>{2, 3});
  CHECK(a.dtype == "<f4");
  REQUIRE(a.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(a.data[static_cast<std::size_t>(i)] == v[i]);
}

TEST_CASE("npy: other dtypes and byte orders convert to float32") {
  // float64 little-endian
  double d[2] = {0.1, -3.0};
  std::vector<std::uint8_t> b8(16);
  std::memcpy(b8.data(), d, 16);
  auto a = parse(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", b8));
  CHECK(a.data[0] == 0.1f);
  CHECK(a.data[1] == -3.0f);
  // big-endian int32: -2 and 258
  a = parse(npy_bytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                      {0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 2}));
  CHECK(a.data == std::vector<float>{-2.0f, 258.0f});
  // int8, uint8, bool, int64
  a = parse(npy_bytes("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", {0x80, 0x7f}));
  CHECK(a.data == std::vector<float>{-128.0f, 127.0f});
  a = parse(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", {0x80, 0xff}));
  CHECK(a.data == std::vector<float>{128.0f, 255.0f});
  a = parse(npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", {1, 0}));
  CHECK(a.data == std::vector<float>{1.0f, 0.0f});
  a = parse(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                      {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(a.data == std::vector<float>{-3.0f});
  // float16: 1.0 = 0x3c00, -2.5 = 0xc100
  a = parse(npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                      {0x00, 0x3c, 0x00, 0xc1}));
  CHECK(a.data == std::vector<float>{1.0f, -2.5f});
}

TEST_CASE("npy: 0-d arrays, empty arrays, version 2 headers, key order") {
  std::vector<std::uint8_t> one(4);
  const float x = 42.0f;
  std::memcpy(one.data(), &x, 4);
  auto a = parse(npy_bytes("{'shape': (), 'fortran_order': False, 'descr': '<f4'}", one, 2));
  CHECK(a.shape.empty());
  CHECK(a.data == std::vector<float>{42.0f});
  a = parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", {}));
  CHECK(a.size() == 0);
  CHECK(a.shape == std::vector<std::size_t>{0, 5});
}

TEST_CASE("npy: malformed files are FormatErrors naming the file and the problem") {
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  CHECK(error_of({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}).find("x.npy@0: not a .npy file") !=
        std::string::npos);
  CHECK(error_of(npy_bytes(f4, {0, 0, 0, 0})).find("truncated") != std::string::npos);
  CHECK(error_of(npy_bytes(f4, std::vector<std::uint8_t>(12))).find("bytes after the data") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }",
                           std::vector<std::uint8_t>(8)))
            .find("Fortran") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
                           std::vector<std::uint8_t>(16)))
            .find("unsupported .npy dtype '<c8'") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", {}))
            .find("unsupported .npy dtype") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'shape': (2,), }", std::vector<std::uint8_t>(8)))
            .find("lacks 'fortran_order'") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,x), }", {}))
            .find("malformed .npy header") != std::string::npos);
  auto cut = npy_bytes(f4, std::vector<std::uint8_t>(8));
  cut.resize(40);
  CHECK(error_of(cut).find("the file ends first") != std::string::npos);
  auto v9 = npy_bytes(f4, std::vector<std::uint8_t>(8));
  v9[6] = 9;
  CHECK(error_of(v9).find("unsupported .npy format version 9") != std::string::npos);
}

TEST_CASE("npy: write_npy and NpyWriter round-trip, headers are 64-byte aligned") {
  TempDir dir;
  const std::string p = dir.path() + "/a.npy";
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  cnn::io::write_npy(p, {3, 2}, v.data());
  auto a = cnn::io::read_npy(p);
  CHECK(a.shape == std::vector<std::size_t>{3, 2});
  CHECK(a.data == v);
  CHECK(cnn::io::npy_header({3, 2}).size() % 64 == 0);
  CHECK(cnn::io::npy_header({7}).find("(7,)") != std::string::npos);

  const std::string q = dir.path() + "/rows.npy";
  {
    cnn::io::NpyWriter w(q, {2, 3});
    w.write_rows(v.data(), 1);
    w.write_rows(v.data() + 3, 1);
    w.commit();
  }
  CHECK(cnn::io::read_npy(q).data == v);
  // Too few rows: nothing is written.
  const std::string r = dir.path() + "/short.npy";
  {
    cnn::io::NpyWriter w(r, {2, 3});
    w.write_rows(v.data(), 1);
    CHECK_THROWS_AS(w.commit(), DataError);
  }
  CHECK_FALSE(std::filesystem::exists(r));
}

TEST_CASE("npy: the real SqueezeNet 1.1 weights read with their OIHW shapes") {
  if (!cnn::test::have_data(cnn::test::shared_data("squeezenet1.1"))) return;
  const std::string dir = std::string(CNN_SHARED_DATA) + "/squeezenet1.1/weights/";
  auto w = cnn::io::read_npy(dir + "squeezenet0_conv0_weight.npy");
  CHECK(w.shape == std::vector<std::size_t>{64, 3, 3, 3});
  auto b = cnn::io::read_npy(dir + "squeezenet0_conv25_bias.npy");
  CHECK(b.shape == std::vector<std::size_t>{1000});
}
