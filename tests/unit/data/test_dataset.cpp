// Datasets: folder trees with Keras flow_from_directory order, labels, resizing and bad-image
// policies; the real cats-vs-dogs validation folder; IDX specs (MNIST, Fashion-MNIST);
// Keras's validation split; class_indices.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/dataset.hpp"
#include "io/image.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::DataError;
using cnn::InputError;
using cnn::data::ClassMode;
using cnn::data::DatasetOptions;
using cnn::data::DirectoryDataset;
using cnn::data::Subset;
using cnn::io::Image;
using cnn::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kShared = CNN_SHARED_DATA;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A solid h x w RGB image of one colour.
Image solid(std::size_t h, std::size_t w, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img(h, w, 3);
  for (std::size_t i = 0; i < h * w; ++i) {
    img.data[3 * i] = r;
    img.data[3 * i + 1] = g;
    img.data[3 * i + 2] = b;
  }
  return img;
}

// root/cats: 3 PNGs (one in a sub-folder) + a text file; root/dogs: 2 JPEGs; an empty-ish
// non-class file at the top.
void make_tree(const fs::path& root) {
  fs::create_directories(root / "cats" / "more");
  fs::create_directories(root / "dogs");
  cnn::io::write_png((root / "cats" / "b.png").string(), solid(4, 6, 10, 20, 30));
  cnn::io::write_png((root / "cats" / "A.PNG").string(), solid(4, 6, 40, 50, 60));
  cnn::io::write_png((root / "cats" / "more" / "c.png").string(), solid(8, 12, 70, 80, 90));
  cnn::test::write_bytes((root / "cats" / "notes.txt").string(), {'h', 'i'});
  cnn::io::write_jpeg((root / "dogs" / "d1.jpg").string(), solid(16, 16, 200, 100, 50), 95);
  cnn::io::write_jpeg((root / "dogs" / "d0.jpeg").string(), solid(16, 16, 0, 0, 255), 95);
  cnn::test::write_bytes((root / "README").string(), {'x'});
}

DatasetOptions small(std::size_t h = 4, std::size_t w = 6) {
  DatasetOptions o;
  o.target_h = h;
  o.target_w = w;
  return o;
}

}  // namespace

TEST_CASE("directory dataset: Keras order, labels, shape and pixels") {
  TempDir tmp;
  make_tree(tmp.path());
  DatasetOptions o = small();
  o.rescale = 1.0f / 255.0f;
  const DirectoryDataset ds(tmp.dir().string(), o);
  CHECK(ds.class_names() == std::vector<std::string>{"cats", "dogs"});
  // Sorted by folder, then by name ("A.PNG" < "b.png" bytewise); sub-folders after.
  CHECK(ds.filenames() == std::vector<std::string>{"cats/A.PNG", "cats/b.png", "cats/more/c.png",
                                                   "dogs/d0.jpeg", "dogs/d1.jpg"});
  REQUIRE(ds.size() == 5);
  CHECK(ds.label(0) == 0);
  CHECK(ds.label(2) == 0);
  CHECK(ds.label(3) == 1);
  CHECK(ds.sample_shape() == cnn::Shape{4, 6, 3});
  CHECK(ds.class_mode() == ClassMode::categorical);
  CHECK(ds.sample_name(1) == (tmp.dir() / "cats" / "b.png").string());

  std::vector<float> x(ds.sample_numel());
  std::int32_t label = -1;
  ds.load(1, x.data(), label, 0);
  CHECK(label == 0);
  CHECK(x[0] == 10.0f * (1.0f / 255.0f));
  CHECK(x[1] == 20.0f * (1.0f / 255.0f));
  CHECK(x[x.size() - 1] == 30.0f * (1.0f / 255.0f));
  ds.load(2, x.data(), label, 0);  // 8x12 resized to 4x6
  CHECK(x[5] == 90.0f * (1.0f / 255.0f));
  ds.load(4, x.data(), label, 0);  // a JPEG, 16x16 resized
  CHECK(label == 1);
  CHECK(std::abs(x[0] * 255.0f - 200.0f) <= 3.0f);

  CHECK(cnn::data::class_indices_json(ds.class_names()).dump() == R"({"cats":0,"dogs":1})");
}

TEST_CASE("directory dataset: grayscale, given classes, binary and sparse modes") {
  TempDir tmp;
  make_tree(tmp.path());
  DatasetOptions o = small(2, 3);
  o.color_mode = cnn::io::ColorMode::grayscale;
  o.classes = {"dogs", "cats"};
  o.class_mode = ClassMode::binary;
  const DirectoryDataset ds(tmp.dir().string(), o);
  CHECK(ds.sample_shape() == cnn::Shape{2, 3, 1});
  CHECK(ds.filenames().front() == "dogs/d0.jpeg");
  CHECK(ds.label(0) == 0);
  CHECK(ds.label(4) == 1);
  std::vector<float> x(ds.sample_numel());
  std::int32_t label = 0;
  ds.load(3, x.data(), label, 0);  // cats/b.png: L of (10, 20, 30)
  CHECK(x[0] == 18.0f);

  // binary needs exactly two classes.
  fs::create_directories(tmp.dir() / "birds");
  cnn::io::write_png((tmp.dir() / "birds" / "x.png").string(), solid(2, 2, 1, 1, 1));
  DatasetOptions b = small();
  b.class_mode = ClassMode::binary;
  try {
    DirectoryDataset bad(tmp.dir().string(), b);
    FAIL("no throw");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), "class_mode binary needs exactly 2 classes; got 3"));
  }
  b.class_mode = ClassMode::sparse;
  CHECK(DirectoryDataset(tmp.dir().string(), b).num_classes() == 3);
}

TEST_CASE("directory dataset: missing and empty folders are named") {
  TempDir tmp;
  make_tree(tmp.path());
  fs::create_directories(tmp.dir() / "empty");
  cnn::test::write_bytes((tmp.dir() / "empty" / "a.txt").string(), {'x'});
  try {
    DirectoryDataset ds(tmp.dir().string(), small());
    FAIL("no throw");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), (tmp.dir() / "empty").string() + ": class folder 'empty' "
                                                              "contains no images"));
  }
  DatasetOptions o = small();
  o.classes = {"cats", "horses"};
  try {
    DirectoryDataset ds(tmp.dir().string(), o);
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(contains(e.what(), (tmp.dir() / "horses").string() + ": class folder 'horses' "
                                                               "does not exist"));
  }
  CHECK_THROWS_AS(DirectoryDataset((tmp.dir() / "nowhere").string(), small()), InputError);
  TempDir flat;
  try {
    DirectoryDataset ds(flat.dir().string(), small());
    FAIL("no throw");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), "contains no class sub-folders"));
  }
}

TEST_CASE("directory dataset: bad images fail or are skipped") {
  if (!cnn::test::have_data(cnn::test::shared_data("cats_and_dogs_filtered"))) return;
  TempDir tmp;
  make_tree(tmp.path());
  // A text file posing as a JPEG, and a JPEG cut in half (its header is intact).
  cnn::test::write_bytes((tmp.dir() / "cats" / "fake.jpg").string(), {'n', 'o', 'p', 'e'});
  auto jpeg = cnn::test::read_bytes(kShared + "/cats_and_dogs_filtered/train/cats/cat.0.jpg");
  jpeg.resize(jpeg.size() / 2);
  cnn::test::write_bytes((tmp.dir() / "dogs" / "half.jpg").string(), jpeg);

  try {
    DirectoryDataset ds(tmp.dir().string(), small());
    FAIL("no throw");
  } catch (const DataError& e) {
    const std::string m = e.what();
    // The first bad file in sample order.
    CHECK(contains(m, (tmp.dir() / "cats" / "fake.jpg").string() + ": not an image: "));
    CHECK(contains(m, "; use on_bad_image=skip to leave bad images out"));
  }

  DatasetOptions o = small();
  o.on_bad_image = cnn::data::BadImagePolicy::skip;
  o.threads = 2;
  const DirectoryDataset ds(tmp.dir().string(), o);
  CHECK(ds.size() == 5);
  REQUIRE(ds.skipped().size() == 2);
  CHECK(ds.skipped()[0].path == (tmp.dir() / "cats" / "fake.jpg").string());
  CHECK(ds.skipped()[0].reason.rfind("not an image: ", 0) == 0);
  CHECK(ds.skipped()[1].path == (tmp.dir() / "dogs" / "half.jpg").string());
  CHECK(ds.skipped()[1].reason == "truncated JPEG file: Premature end of JPEG file");

  o.check = cnn::data::ImageCheck::full;
  CHECK(DirectoryDataset(tmp.dir().string(), o).skipped().size() == 2);
}

TEST_CASE("directory dataset: a JPEG corrupt past its header fails when loaded, naming it") {
  TempDir tmp;
  make_tree(tmp.path());
  // A Huffman table whose code counts are consistent in size but impossible (three 1-bit
  // codes): the header reads fine, decoding stops with a fatal error.
  const std::string path = (tmp.dir() / "dogs" / "d1.jpg").string();
  auto bytes = cnn::test::read_bytes(path);
  std::size_t p = 2;
  while (p + 21 < bytes.size() && !(bytes[p] == 0xFF && bytes[p + 1] == 0xC4)) ++p;
  REQUIRE(p + 21 < bytes.size());
  std::uint8_t* bits = bytes.data() + p + 4;  // bits[1..16] after the table class byte
  std::size_t k = 2;
  while (k <= 16 && bits[k] < 3) ++k;
  REQUIRE(k <= 16);
  bits[1] = static_cast<std::uint8_t>(bits[1] + 3);
  bits[k] = static_cast<std::uint8_t>(bits[k] - 3);
  cnn::test::write_bytes(path, bytes);

  const DirectoryDataset ds(tmp.dir().string(), small());  // passes the header check
  REQUIRE(ds.size() == 5);
  std::vector<float> x(ds.sample_numel());
  std::int32_t label = 0;
  try {
    ds.load(4, x.data(), label, 0);
    FAIL("no throw");
  } catch (const DataError& e) {
    const std::string m = e.what();
    CHECK(m.rfind(path + ": corrupt JPEG data: ", 0) == 0);
    CHECK(contains(m, "check=full"));
  }
  DatasetOptions full = small();
  full.check = cnn::data::ImageCheck::full;
  full.on_bad_image = cnn::data::BadImagePolicy::skip;
  const DirectoryDataset checked(tmp.dir().string(), full);
  CHECK(checked.size() == 4);
  REQUIRE(checked.skipped().size() == 1);
  CHECK(checked.skipped()[0].path == path);
}

TEST_CASE("directory dataset: validation_split takes the first fraction of each class") {
  TempDir tmp;
  for (const char* cls : {"a", "b"}) {
    fs::create_directories(tmp.dir() / cls);
    for (char i = '0'; i < '5'; ++i)
      cnn::io::write_png((tmp.dir() / cls / (std::string("f") + i + ".png")).string(),
                         solid(2, 2, 0, 0, 0));
  }
  DatasetOptions o = small(2, 2);
  o.validation_split = 0.4;  // int(5 * 0.4) = 2 per class
  o.subset = Subset::validation;
  CHECK(DirectoryDataset(tmp.dir().string(), o).filenames() ==
        std::vector<std::string>{"a/f0.png", "a/f1.png", "b/f0.png", "b/f1.png"});
  o.subset = Subset::training;
  CHECK(DirectoryDataset(tmp.dir().string(), o).filenames() ==
        std::vector<std::string>{"a/f2.png", "a/f3.png", "a/f4.png", "b/f2.png", "b/f3.png",
                                 "b/f4.png"});
  o.validation_split = 0.0;
  CHECK_THROWS_AS(DirectoryDataset(tmp.dir().string(), o), InputError);

  using cnn::data::split_range;
  CHECK(split_range(1000, 0.2, Subset::validation) == std::pair<std::size_t, std::size_t>{0, 200});
  CHECK(split_range(1000, 0.2, Subset::training) == std::pair<std::size_t, std::size_t>{200, 1000});
  CHECK(split_range(7, 0.5, Subset::all) == std::pair<std::size_t, std::size_t>{0, 7});
  CHECK(split_range(3, 0.3, Subset::validation).second == 0);  // int(0.9) = 0
}

TEST_CASE("directory dataset: the real cats_and_dogs_filtered validation folder") {
  if (!cnn::test::have_data(cnn::test::shared_data("cats_and_dogs_filtered"))) return;
  DatasetOptions o;
  o.target_h = 150;
  o.target_w = 150;
  o.class_mode = ClassMode::binary;
  o.rescale = 1.0f / 255.0f;
  o.threads = 2;
  const auto ds = cnn::data::open_dataset(kShared + "/cats_and_dogs_filtered/validation", o);
  const auto& dir = dynamic_cast<const DirectoryDataset&>(*ds);
  REQUIRE(ds->size() == 1000);
  CHECK(ds->class_names() == std::vector<std::string>{"cats", "dogs"});
  CHECK(dir.filenames().front() == "cats/cat.2000.jpg");
  CHECK(dir.filenames()[1] == "cats/cat.2001.jpg");
  CHECK(dir.filenames().back() == "dogs/dog.2499.jpg");
  CHECK(dir.skipped().empty());
  std::size_t dogs = 0;
  for (std::size_t i = 0; i < ds->size(); ++i) dogs += static_cast<std::size_t>(ds->label(i));
  CHECK(dogs == 500);
  CHECK(ds->label(0) == 0);
  CHECK(ds->label(999) == 1);

  // A few real decodes at 150x150, values within [0, 1].
  std::vector<float> x(ds->sample_numel());
  for (std::size_t i : {std::size_t{0}, std::size_t{499}, std::size_t{500}, std::size_t{999}}) {
    std::int32_t label = -1;
    ds->load(i, x.data(), label, 0);
    CHECK(label == (i < 500 ? 0 : 1));
    const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    CHECK(*lo >= 0.0f);
    CHECK(*hi <= 1.0f);
    CHECK(*hi > *lo);
  }
}

TEST_CASE("open_dataset: MNIST specs, IDX folders and pairs") {
  if (!cnn::test::have_data(cnn::test::shared_data("mnist"))) return;
  DatasetOptions o;
  o.mnist_dir = kShared + "/mnist";
  const char* saved = std::getenv("CNN_MNIST_DIR");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("CNN_MNIST_DIR");

  const auto test = cnn::data::open_dataset("mnist:test", o);
  CHECK(test->size() == 10000);
  CHECK(test->sample_shape() == cnn::Shape{28, 28, 1});
  CHECK(test->num_classes() == 10);
  CHECK(test->class_names()[7] == "7");
  CHECK(test->label(0) == 7);
  std::vector<float> x(test->sample_numel());
  std::int32_t label = -1;
  test->load(0, x.data(), label, 0);
  CHECK(label == 7);
  CHECK(*std::max_element(x.begin(), x.end()) == 1.0f);  // 255 / 255
  CHECK(*std::min_element(x.begin(), x.end()) == 0.0f);
  CHECK(contains(test->sample_name(3), "t10k-images-idx3-ubyte.gz[3]"));

  // The environment variable wins over the compiled-in default.
  ::setenv("CNN_MNIST_DIR", "/nonexistent/mnist", 1);
  CHECK_THROWS_AS(cnn::data::open_dataset("mnist:test", o), InputError);
  if (saved) {
    ::setenv("CNN_MNIST_DIR", saved_value.c_str(), 1);
  } else {
    ::unsetenv("CNN_MNIST_DIR");
  }

  // A folder of IDX files with a split suffix, and an explicit pair.
  const auto folder = cnn::data::open_dataset(kShared + "/mnist:test", o);
  CHECK(folder->size() == 10000);
  CHECK(folder->class_names()[9] == "9");  // "0".."9" from the largest label
  const auto pair = cnn::data::open_dataset("idx:" + kShared + "/mnist/t10k-images-idx3-ubyte.gz," +
                                                kShared + "/mnist/t10k-labels-idx1-ubyte.gz",
                                            o);
  CHECK(pair->label(0) == 7);

  // Keras flow() split: validation is the first int(n * v) samples.
  o.validation_split = 0.25;
  o.subset = Subset::validation;
  CHECK(cnn::data::open_dataset("mnist:test", o)->size() == 2500);
  o.subset = Subset::training;
  const auto training = cnn::data::open_dataset("mnist:test", o);
  CHECK(training->size() == 7500);
  CHECK(contains(training->sample_name(0), "[2500]"));
}

TEST_CASE("open_dataset: Fashion-MNIST names its classes") {
  if (!cnn::test::have_data("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")) return;
  const auto ds = cnn::data::open_dataset("fashion-mnist:test", DatasetOptions{});
  CHECK(ds->size() == 10000);
  CHECK(ds->label(0) == 9);
  CHECK(ds->class_names()[9] == "Ankle boot");
  CHECK(ds->class_names()[0] == "T-shirt/top");
}

TEST_CASE("open_dataset: unknown specs list the valid forms") {
  try {
    cnn::data::open_dataset("no-such-thing", DatasetOptions{});
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(contains(e.what(), "no-such-thing: no such dataset; expected fashion-mnist:train|test"));
  }
  try {
    cnn::data::open_dataset("fashion-mnist:validation", DatasetOptions{});
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(contains(e.what(), "unknown split 'validation'; expected one of train, test"));
  }
  try {
    cnn::data::open_dataset("fashion_mnist:test", DatasetOptions{});
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(contains(e.what(), "(did you mean 'fashion-mnist:test'?)"));
  }
  CHECK_THROWS_AS(cnn::data::open_dataset("idx:onlyone", DatasetOptions{}), InputError);
}
