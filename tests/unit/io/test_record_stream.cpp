// Record streams: round trips (float32 and uint8), an endless stream, and strict errors with
// byte offsets (wrong magic, future version, bad header, truncated record, count mismatch).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "data/record_stream_dataset.hpp"
#include "io/record_stream.hpp"
#include "io/temp_dir.hpp"
#include "tensor/error.hpp"

using namespace cnn::io;

namespace {

RecordHeader header(std::optional<std::uint64_t> count, RecordDtype dtype = RecordDtype::float32) {
  RecordHeader h;
  h.shape = {2, 3, 1};
  h.dtype = dtype;
  h.classes = {"cat", "dog"};
  h.class_mode = "binary";
  h.count = count;
  return h;
}

std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The FormatError message of reading every record of path ("" when none).
std::string read_error(const std::string& path, std::optional<std::uint64_t>* offset = nullptr) {
  try {
    RecordReader r(path);
    std::vector<std::uint8_t> rec;
    while (r.next(rec)) {
    }
  } catch (const cnn::FormatError& e) {
    if (offset) *offset = e.offset();
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a record stream round-trips labels and values") {
  cnn::test::TempDir dir;
  const std::string path = (dir.path() + "/" + "a.cnnrec");
  {
    RecordWriter w(path, header(3));
    for (int i = 0; i < 3; ++i) {
      std::vector<float> x(6);
      for (int k = 0; k < 6; ++k)
        x[static_cast<std::size_t>(k)] = static_cast<float>(i) + 0.25f * static_cast<float>(k);
      w.write(i % 2, x.data());
    }
    w.finish();
  }
  RecordReader r(path);
  CHECK(r.header().shape == cnn::Shape{2, 3, 1});
  CHECK(r.header().classes == std::vector<std::string>{"cat", "dog"});
  CHECK(*r.header().count == 3);
  std::vector<std::uint8_t> rec;
  std::vector<float> x(6);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(r.next(rec));
    CHECK(decode_record(r.header(), rec.data(), x.data()) == i % 2);
    CHECK(x[5] == static_cast<float>(i) + 1.25f);
  }
  CHECK_FALSE(r.next(rec));

  // As a dataset (values times rescale).
  cnn::data::DatasetOptions o;
  o.class_mode = cnn::data::ClassMode::binary;
  o.rescale = 2.0f;
  auto ds = cnn::data::open_dataset(path, o);
  REQUIRE(ds->size() == 3);
  std::int32_t label;
  ds->load(2, x.data(), label, 0);
  CHECK(label == 0);
  CHECK(x[1] == 2 * 2.25f);
  CHECK(ds->class_names()[1] == "dog");
}

TEST_CASE("uint8 records round and clamp, endless streams need a limit") {
  cnn::test::TempDir dir;
  const std::string path = (dir.path() + "/" + "u");
  {
    RecordWriter w(path, header(std::nullopt, RecordDtype::uint8));
    const std::vector<float> x = {-3, 0.4f, 0.6f, 254.6f, 300, 17};
    for (int i = 0; i < 5; ++i) w.write(1, x.data());
    w.finish();
  }
  CHECK(cnn::data::is_record_stream_spec(path));  // by its magic
  cnn::data::DatasetOptions o;
  CHECK_THROWS_WITH_AS(cnn::data::RecordStreamDataset(path, o),
                       doctest::Contains("--steps-per-epoch"), cnn::DataError);
  o.stream_limit = 4;
  cnn::data::RecordStreamDataset ds(path, o);
  CHECK(ds.size() == 4);
  std::vector<float> x(6);
  std::int32_t label;
  ds.load(0, x.data(), label, 0);
  CHECK(x == std::vector<float>{0, 0, 1, 255, 255, 17});
}

TEST_CASE("a device is written directly, never replaced by a rename") {
  {
    RecordWriter w("/dev/null", header(1));
    const std::vector<float> x(6, 1.0f);
    w.write(0, x.data());
    w.finish();
  }
  CHECK(std::filesystem::is_character_file("/dev/null"));
}

TEST_CASE("bad streams are refused with the byte offset") {
  cnn::test::TempDir dir;
  const std::string good = (dir.path() + "/" + "g"), bad = (dir.path() + "/" + "b");
  {
    RecordWriter w(good, header(2));
    const std::vector<float> x(6, 1.0f);
    w.write(0, x.data());
    w.write(1, x.data());
    w.finish();
  }
  const auto bytes = slurp(good);
  const std::size_t record = 4 + 6 * 4, data_start = bytes.size() - 2 * record;
  std::optional<std::uint64_t> off;

  auto b = bytes;
  b[1] = 'X';
  spit(bad, b);
  CHECK(read_error(bad, &off).find("not a record stream") != std::string::npos);
  CHECK(*off == 0);

  b = bytes;
  b[8] = 2;  // version 2
  spit(bad, b);
  CHECK(read_error(bad, &off).find("version 2 is newer") != std::string::npos);
  CHECK(*off == 8);

  b = bytes;
  b.resize(bytes.size() - 5);  // the second record loses 5 bytes
  spit(bad, b);
  const std::string msg = read_error(bad, &off);
  CHECK(msg.find("record 1 is truncated") != std::string::npos);
  CHECK(*off == data_start + record);
  CHECK(msg.find(bad) != std::string::npos);

  b = bytes;
  b.resize(data_start + record);  // a whole record missing
  spit(bad, b);
  CHECK(read_error(bad, &off).find("announces 2") != std::string::npos);

  b = bytes;
  b.push_back(0);
  spit(bad, b);
  CHECK(read_error(bad).find("bytes after") != std::string::npos);

  b = bytes;
  b[data_start] = 7;  // label 7 of 2 classes
  spit(bad, b);
  CHECK(read_error(bad, &off).find("label 7") != std::string::npos);
  CHECK(*off == data_start);

  b = bytes;
  b[16] = '[';  // header JSON broken
  spit(bad, b);
  CHECK(read_error(bad, &off).find("header is not valid JSON") != std::string::npos);
  CHECK(*off == 16 + 8);  // the ':' after ["shape", where the list cannot go on

  CHECK_THROWS_AS(RecordReader((dir.path() + "/" + "missing")), cnn::InputError);
}
