// IDX reading: plain and gzipped files, every FormatError with path and offset, the label
// checks of IdxPair, and the real MNIST / Fashion-MNIST test files.
#include <doctest/doctest.h>
#include <zlib.h>

#include <array>
#include <filesystem>
#include <string>

#include "io/idx.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::DataError;
using cnn::FormatError;
using cnn::InputError;
using cnn::test::TempDir;
using cnn::test::write_bytes;

namespace {

// Big-endian IDX bytes: magic 0x000008NN, dims, then data.
std::vector<std::uint8_t> idx_bytes(const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& data,
                                    std::uint8_t type = 0x08) {
  std::vector<std::uint8_t> b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_gzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// The FormatError of reading path, which must throw one.
FormatError format_error(const std::string& path, std::optional<std::size_t> ndim = {}) {
  try {
    cnn::io::read_idx(path, ndim);
  } catch (const FormatError& e) {
    return e;
  }
  FAIL("no FormatError for " << path);
  return FormatError("", 0, "");
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Two 2x3 images and their labels.
const std::vector<std::uint8_t> kPixels = {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255};
const std::vector<std::uint8_t> kLabels = {7, 2};

}  // namespace

TEST_CASE("idx: plain and gzipped files read the same") {
  TempDir dir;
  const auto images = idx_bytes({2, 2, 3}, kPixels);
  write_bytes(dir.file("images"), images);
  write_gzip(dir.file("images.gz"), images);
  for (const std::string name : {"images", "images.gz"}) {
    CAPTURE(name);
    const cnn::io::IdxArray a = cnn::io::read_idx(dir.file(name), 3);
    CHECK(a.dims == std::vector<std::size_t>{2, 2, 3});
    CHECK(a.count() == 2);
    CHECK(a.item_size() == 6);
    CHECK(a.data == kPixels);
  }
  // Concatenated gzip members form one stream, as gzip -d reads them.
  const auto half1 = std::vector<std::uint8_t>(images.begin(), images.begin() + 10);
  const auto half2 = std::vector<std::uint8_t>(images.begin() + 10, images.end());
  write_gzip(dir.file("a.gz"), half1);
  write_gzip(dir.file("b.gz"), half2);
  auto joined = cnn::test::read_bytes(dir.file("a.gz"));
  const auto second = cnn::test::read_bytes(dir.file("b.gz"));
  joined.insert(joined.end(), second.begin(), second.end());
  write_bytes(dir.file("joined.gz"), joined);
  CHECK(cnn::io::read_idx(dir.file("joined.gz")).data == kPixels);
}

TEST_CASE("idx: a wrong magic number names the file and offset 0") {
  TempDir dir;
  const std::string path = dir.file("bad");
  auto bytes = idx_bytes({2, 2, 3}, kPixels);
  bytes[0] = 0x1f;  // half a gzip magic
  bytes[1] = 0x00;
  write_bytes(path, bytes);
  const FormatError e = format_error(path, 3);
  CHECK(e.file() == path);
  CHECK(e.offset() == 0u);
  CHECK(contains(e.what(), path + "@0: not an IDX file: magic number 0x1F000803"));
  CHECK(contains(e.what(), "expected an IDX magic number (0x00000803"));
}

TEST_CASE("idx: unsupported data type and dimension count") {
  TempDir dir;
  write_bytes(dir.file("f32"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  FormatError e = format_error(dir.file("f32"));
  CHECK(e.offset() == 2u);
  CHECK(contains(e.what(), "unsupported IDX data type code 0x0D (float32)"));

  write_bytes(dir.file("weird"), idx_bytes({1}, {0}, 0x42));
  CHECK(contains(format_error(dir.file("weird")).what(), "unknown IDX data type code 0x42"));

  write_bytes(dir.file("labels-as-images"), idx_bytes({2}, kLabels));
  e = format_error(dir.file("labels-as-images"), 3);
  CHECK(e.offset() == 3u);
  CHECK(contains(e.what(), "has 1 dimensions (magic 0x00000801); expected 3"));

  write_bytes(dir.file("zero"), idx_bytes({2, 0, 3}, {}));
  e = format_error(dir.file("zero"));
  CHECK(e.offset() == 8u);
  CHECK(contains(e.what(), "dimension 1 is 0"));
}

TEST_CASE("idx: truncated files give the offset where the data ended") {
  TempDir dir;
  auto bytes = idx_bytes({2, 2, 3}, kPixels);
  bytes.resize(bytes.size() - 5);  // 16-byte header + 7 of 12 pixels
  write_bytes(dir.file("short"), bytes);
  FormatError e = format_error(dir.file("short"));
  CHECK(e.offset() == 23u);
  CHECK(contains(e.what(),
                 "truncated IDX data: it ends at byte 23, but the header's dimensions "
                 "(2 x 2 x 3) need 12 bytes after the 16-byte header, up to byte 28 "
                 "(5 bytes missing)"));

  // The same inside a gzip file: offsets count decompressed bytes, and say so.
  write_gzip(dir.file("short.gz"), bytes);
  e = format_error(dir.file("short.gz"));
  CHECK(e.offset() == 23u);
  CHECK(contains(e.what(), "(offsets count decompressed bytes)"));

  // A header cut inside the dimensions.
  write_bytes(dir.file("header"), std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 9));
  e = format_error(dir.file("header"));
  CHECK(e.offset() == 9u);
  CHECK(contains(e.what(), "truncated IDX header"));

  write_bytes(dir.file("tiny"), {0, 0});
  CHECK(format_error(dir.file("tiny")).offset() == 2u);

  // A gzip stream cut short is an error of the compressed file.
  write_gzip(dir.file("full.gz"), idx_bytes({2, 2, 3}, kPixels));
  auto gz = cnn::test::read_bytes(dir.file("full.gz"));
  gz.resize(gz.size() - 6);
  write_bytes(dir.file("cut.gz"), gz);
  e = format_error(dir.file("cut.gz"));
  CHECK(e.offset() == gz.size());
  CHECK(contains(e.what(), "truncated gzip stream"));
}

TEST_CASE("idx: bytes after the data are an error at the end of the data") {
  TempDir dir;
  auto bytes = idx_bytes({2}, kLabels);
  bytes.push_back(0);
  bytes.push_back(0);
  write_bytes(dir.file("long"), bytes);
  const FormatError e = format_error(dir.file("long"), 1);
  CHECK(e.offset() == 10u);
  CHECK(contains(e.what(), "2 unexpected bytes after the IDX data"));

  // Garbage after a gzip member.
  write_gzip(dir.file("ok.gz"), idx_bytes({2}, kLabels));
  auto gz = cnn::test::read_bytes(dir.file("ok.gz"));
  const std::size_t end = gz.size();
  gz.push_back('x');
  write_bytes(dir.file("tail.gz"), gz);
  const FormatError g = format_error(dir.file("tail.gz"));
  CHECK(g.offset() == end);
  CHECK(contains(g.what(), "unexpected bytes after the gzip stream"));
}

TEST_CASE("idx: a missing file is an InputError naming it") {
  TempDir dir;
  const std::string path = dir.file("nope.gz");
  try {
    cnn::io::read_idx(path);
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(contains(e.what(), path + ": no such file"));
  }
}

TEST_CASE("idx: pairs check label count and label range") {
  TempDir dir;
  write_bytes(dir.file("img"), idx_bytes({2, 2, 3}, kPixels));
  write_bytes(dir.file("lab"), idx_bytes({2}, kLabels));
  write_bytes(dir.file("lab3"), idx_bytes({3}, {1, 2, 3}));

  const cnn::io::IdxPair p = cnn::io::read_idx_pair(dir.file("img"), dir.file("lab"), 10);
  CHECK(p.images.count() == 2);
  CHECK(p.labels.data == kLabels);

  try {
    cnn::io::read_idx_pair(dir.file("img"), dir.file("lab3"));
    FAIL("no throw");
  } catch (const DataError& e) {
    const std::string m = e.what();
    CHECK(
        contains(m, dir.file("lab3") + ": has 3 labels but " + dir.file("img") + " has 2 images"));
  }
  try {
    cnn::io::read_idx_pair(dir.file("img"), dir.file("lab"), 5);
    FAIL("no throw");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), "label 7 of sample 0 (byte 8) is out of range; expected 0..4"));
  }
}

TEST_CASE("idx: the real MNIST t10k files") {
  if (!cnn::test::have_data(cnn::test::shared_data("mnist"))) return;
  const std::string dir = std::string(CNN_SHARED_DATA) + "/mnist/";
  const cnn::io::IdxPair p = cnn::io::read_idx_pair(dir + "t10k-images-idx3-ubyte.gz",
                                                    dir + "t10k-labels-idx1-ubyte.gz", 10);
  CHECK(p.images.dims == std::vector<std::size_t>{10000, 28, 28});
  CHECK(p.labels.count() == 10000);
  CHECK(p.labels.data[0] == 7);
  std::array<std::size_t, 10> hist{};
  for (std::uint8_t l : p.labels.data) ++hist[l];
  // Class counts from shared/data/mnist/SOURCE.md.
  CHECK(hist == std::array<std::size_t, 10>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
}

TEST_CASE("idx: the Debian Fashion-MNIST test files") {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!cnn::test::have_data(dir + "t10k-labels-idx1-ubyte.gz")) return;
  const cnn::io::IdxPair p = cnn::io::read_idx_pair(dir + "t10k-images-idx3-ubyte.gz",
                                                    dir + "t10k-labels-idx1-ubyte.gz", 10);
  CHECK(p.images.dims == std::vector<std::size_t>{10000, 28, 28});
  CHECK(p.labels.data[0] == 9);  // Ankle boot
  std::array<std::size_t, 10> hist{};
  for (std::uint8_t l : p.labels.data) ++hist[l];
  for (std::size_t k = 0; k < 10; ++k) CHECK(hist[k] == 1000);
}
