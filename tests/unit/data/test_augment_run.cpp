// The augmentation job behind cnn-augment: the settings merge (file < overrides) and the two
// outputs, saved images in source order and a record stream that declares the rescale.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "../io/temp_dir.hpp"
#include "data/augment_run.hpp"
#include "io/image.hpp"
#include "io/record_stream.hpp"
#include "tensor/error.hpp"

using namespace cnn::data;
using cnn::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A folder dataset: class "a" with two 3x4 gray images of distinct values, class "b" with one.
void make_images(const fs::path& root) {
  int v = 0;
  for (const auto& [cls, n] : {std::pair<std::string, int>{"a", 2}, {"b", 1}}) {
    fs::create_directories(root / cls);
    for (int k = 0; k < n; ++k) {
      cnn::io::Image img(3, 4, 1);
      for (auto& p : img.data) p = static_cast<std::uint8_t>(10 * ++v % 256);
      cnn::io::write_png((root / cls / (std::to_string(k) + ".png")).string(), img);
    }
  }
}

AugmentJob job_for(const fs::path& root) {
  AugmentJob job;
  job.source = root.string();
  job.dataset.target_h = 3;
  job.dataset.target_w = 4;
  job.dataset.color_mode = cnn::io::ColorMode::grayscale;
  job.dataset.class_mode = ClassMode::sparse;
  return job;
}

}  // namespace

TEST_CASE("augment job: settings are defaults < file < overrides, in order") {
  TempDir tmp;
  const std::string file = (tmp.dir() / "aug.json").string();
  std::ofstream(file) << R"({"rotation_range": 10, "fill_mode": "constant", "cval": 3})";
  const auto r = resolve_augment_settings(
      file, {{"rotation_range", "20"}, {"fill_mode", "reflect"}, {"horizontal_flip", "true"}});
  CHECK(r.name == file + " + flags");
  CHECK(r.settings.rotation_range == 20);
  CHECK(r.settings.fill_mode == FillMode::reflect);
  CHECK(r.settings.horizontal_flip);
  CHECK(r.settings.cval == 3);
  CHECK(resolve_augment_settings("", {}).name == "<flags>");
  CHECK(resolve_augment_settings(file, {}).name == file);

  std::ofstream(file) << "[1, 2]";
  CHECK_THROWS_AS(resolve_augment_settings(file, {}), cnn::ConfigError);
  try {
    resolve_augment_settings("", {{"zoom_range", "-1"}});
    FAIL("a negative zoom range was accepted");
  } catch (const cnn::ConfigError& e) {
    CHECK(std::string(e.what()).find("<flags>") == 0);
  }
}

TEST_CASE("augment job: saved images are the sources under the identity, in source order") {
  TempDir tmp;
  make_images(tmp.dir() / "src");
  AugmentJob job = job_for(tmp.dir() / "src");
  job.save_dir = (tmp.dir() / "out").string();
  job.save_prefix = "x";
  job.count = 2;
  job.transform = parse_transform(cnn::json::object(), "test");
  const AugmentResult r = run_augment(job);
  CHECK(r.sources == 3);
  CHECK(r.images == 6);
  CHECK(r.shape == cnn::Shape{3, 4, 1});
  const auto src = cnn::io::read_image((tmp.dir() / "src" / "b" / "0.png").string());
  for (const char* name : {"x_2_0.png", "x_2_1.png"}) {
    CAPTURE(name);
    CHECK(cnn::io::read_image((tmp.dir() / "out" / name).string()).data == src.data);
  }
  job.save_prefix = "../up";
  CHECK_THROWS_AS(run_augment(job), cnn::ConfigError);
  job.stream = true;
  CHECK_THROWS_AS(run_augment(job), cnn::ConfigError);
}

TEST_CASE("augment job: a stream carries raw pixels and declares the rescale") {
  TempDir tmp;
  make_images(tmp.dir() / "src");
  AugmentJob job = job_for(tmp.dir() / "src");
  job.stream = true;
  job.output = (tmp.dir() / "s.rec").string();
  job.epochs = 2;
  job.settings.rescale = 1.0 / 255;
  const AugmentResult r = run_augment(job);
  CHECK(r.images == 6);
  CHECK_FALSE(r.reader_closed);
  cnn::io::RecordReader reader(job.output);
  CHECK(reader.header().count == 6u);
  REQUIRE(reader.header().rescale);
  CHECK(*reader.header().rescale == doctest::Approx(1.0 / 255));
  CHECK(reader.header().classes == std::vector<std::string>{"a", "b"});
  std::vector<std::uint8_t> rec;
  std::size_t n = 0;
  while (reader.next(rec)) ++n;
  CHECK(n == 6);
}
