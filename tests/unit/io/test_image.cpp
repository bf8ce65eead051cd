// Image decoding, encoding and resizing: real JPEG photos, truncated and non-image files,
// PNG/JPEG round trips, BMP and PNM readers, and PIL's resize results on small cases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "io/image.hpp"
#include "io/temp_dir.hpp"
#include "shared_data.hpp"
#include "tensor/error.hpp"

using cnn::DataError;
using cnn::io::ColorMode;
using cnn::io::Image;
using cnn::io::Interpolation;
using cnn::test::read_bytes;
using cnn::test::TempDir;
using cnn::test::write_bytes;

namespace {

const std::string kCat =
    std::string(CNN_SHARED_DATA) + "/cats_and_dogs_filtered/train/cats/cat.0.jpg";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The DataError message of decoding path, which must throw one.
std::string decode_error(const std::string& path) {
  try {
    cnn::io::read_image(path);
  } catch (const DataError& e) {
    return e.what();
  }
  FAIL("no DataError for " << path);
  return {};
}

// A smooth colour test pattern (JPEG-friendly).
Image gradient(std::size_t h, std::size_t w) {
  Image img(h, w, 3);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      img.at(y, x, 0) = static_cast<std::uint8_t>(255 * x / (w - 1));
      img.at(y, x, 1) = static_cast<std::uint8_t>(255 * y / (h - 1));
      img.at(y, x, 2) = static_cast<std::uint8_t>(128 + 100 * std::sin(0.1 * double(x + y)));
    }
  return img;
}

double psnr(const Image& a, const Image& b) {
  REQUIRE(a.data.size() == b.data.size());
  double se = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    const double d = double(a.data[i]) - double(b.data[i]);
    se += d * d;
  }
  const double mse = se / double(a.data.size());
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

Image row(std::initializer_list<std::uint8_t> v) {
  Image img(1, v.size(), 1);
  img.data.assign(v);
  return img;
}

}  // namespace

TEST_CASE("image: a real JPEG photo decodes to its size as RGB or grayscale") {
  if (!cnn::test::have_data(kCat)) return;
  const Image rgb = cnn::io::read_image(kCat);
  CHECK(rgb.h == 374);
  CHECK(rgb.w == 500);
  CHECK(rgb.c == 3);
  CHECK(rgb.data.size() == 374u * 500u * 3u);
  const Image gray = cnn::io::read_image(kCat, ColorMode::grayscale);
  CHECK(gray.c == 1);
  CHECK(gray.data == cnn::io::to_grayscale(rgb).data);

  const auto bytes = read_bytes(kCat);
  const cnn::io::ImageInfo info = cnn::io::probe_image(bytes.data(), bytes.size(), kCat);
  CHECK(info.format == cnn::io::ImageFormat::jpeg);
  CHECK(info.h == 374);
  CHECK(info.w == 500);
  CHECK(cnn::io::looks_complete(bytes.data(), bytes.size(), info));
}

TEST_CASE("image: a truncated JPEG is a DataError, not a gray-filled image") {
  if (!cnn::test::have_data(kCat)) return;
  TempDir dir;
  auto bytes = read_bytes(kCat);
  bytes.resize(bytes.size() / 2);
  const std::string path = dir.file("half.jpg");
  write_bytes(path, bytes);
  // The header is intact, so only a decode (or the end check) finds it.
  const auto info = cnn::io::probe_image(bytes.data(), bytes.size(), path);
  CHECK_FALSE(cnn::io::looks_complete(bytes.data(), bytes.size(), info));
  const std::string m = decode_error(path);
  CHECK(contains(m, path + ": truncated JPEG file: Premature end of JPEG file"));
}

TEST_CASE("image: files that are not images are DataErrors naming the file") {
  TempDir dir;
  const std::string text = dir.file("x.jpg");
  write_bytes(text, {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK(contains(decode_error(text), text + ": not an image"));

  write_bytes(dir.file("empty.png"), {});
  CHECK(contains(decode_error(dir.file("empty.png")), "not an image"));

  write_bytes(dir.file("a.gif"), {'G', 'I', 'F', '8', '9', 'a', 0, 0});
  CHECK(contains(decode_error(dir.file("a.gif")), "GIF images are not supported"));

  // JPEG magic followed by garbage.
  write_bytes(dir.file("junk.jpg"), {0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34, 0x56});
  CHECK(contains(decode_error(dir.file("junk.jpg")), dir.file("junk.jpg") + ": "));

  // A PNG signature with a broken IHDR chunk.
  write_bytes(dir.file("junk.png"),
              {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0});
  CHECK(contains(decode_error(dir.file("junk.png")), "PNG"));

  CHECK_THROWS_AS(cnn::io::read_image(dir.file("missing.png")), cnn::InputError);
}

TEST_CASE("image: PNG round trips exactly, and the format comes from the bytes") {
  TempDir dir;
  const Image rgb = gradient(13, 17);
  cnn::io::write_png(dir.file("rgb.png"), rgb);
  const Image back = cnn::io::read_image(dir.file("rgb.png"));
  CHECK(back.h == 13);
  CHECK(back.w == 17);
  CHECK(back.c == 3);
  CHECK(back.data == rgb.data);

  const Image gray = cnn::io::to_grayscale(rgb);
  cnn::io::write_png(dir.file("gray.jpg"), gray);  // a PNG, whatever the name says
  const Image g = cnn::io::read_image(dir.file("gray.jpg"));
  CHECK(g.c == 1);
  CHECK(g.data == gray.data);
  CHECK(cnn::io::read_image(dir.file("gray.jpg"), ColorMode::rgb).data ==
        cnn::io::to_rgb(gray).data);

  // Alpha is dropped on reading, as PIL's convert("RGB") does.
  Image rgba(2, 2, 4);
  for (std::size_t i = 0; i < rgba.data.size(); ++i) rgba.data[i] = std::uint8_t(i * 20);
  cnn::io::write_png(dir.file("rgba.png"), rgba);
  const Image noalpha = cnn::io::read_image(dir.file("rgba.png"));
  CHECK(noalpha.c == 3);
  CHECK(noalpha.data == cnn::io::to_rgb(rgba).data);

  Image ga(2, 3, 2);
  for (std::size_t i = 0; i < ga.data.size(); ++i) ga.data[i] = std::uint8_t(i * 10);
  cnn::io::write_png(dir.file("ga.png"), ga);
  const Image gray_back = cnn::io::read_image(dir.file("ga.png"));
  CHECK(gray_back.c == 1);
  CHECK(gray_back.data == std::vector<std::uint8_t>{0, 20, 40, 60, 80, 100});

  // Written atomically: nothing but the outputs in the folder.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 4);

  // A truncated PNG.
  auto bytes = read_bytes(dir.file("rgb.png"));
  bytes.resize(bytes.size() - 30);
  write_bytes(dir.file("cut.png"), bytes);
  CHECK(contains(decode_error(dir.file("cut.png")), "corrupt or truncated PNG data"));
}

TEST_CASE("image: JPEG written then read is close (PSNR > 30 dB)") {
  if (!cnn::test::have_data(kCat)) return;
  TempDir dir;
  const Image img = gradient(64, 80);
  cnn::io::write_jpeg(dir.file("g.jpg"), img, 95);
  const Image back = cnn::io::read_image(dir.file("g.jpg"));
  CHECK(back.h == 64);
  CHECK(back.w == 80);
  CHECK(psnr(img, back) > 30.0);

  const Image photo = cnn::io::read_image(kCat);
  cnn::io::write_jpeg(dir.file("cat.jpg"), photo, 90);
  CHECK(psnr(photo, cnn::io::read_image(dir.file("cat.jpg"))) > 30.0);

  const Image gray = cnn::io::to_grayscale(img);
  cnn::io::write_jpeg(dir.file("gray.jpg"), gray);
  const Image gback = cnn::io::read_image(dir.file("gray.jpg"));
  CHECK(gback.c == 1);
  CHECK(psnr(gray, gback) > 30.0);

  CHECK_THROWS_AS(cnn::io::encode_jpeg(img, 0), DataError);
  CHECK_THROWS_AS(cnn::io::write_jpeg(dir.file("no/such/dir/x.jpg"), img), cnn::IoError);
}

TEST_CASE("image: BMP and binary PNM are read") {
  TempDir dir;
  // 24-bit BMP, 3 wide x 2 high, bottom-up, rows padded to 12 bytes.
  std::vector<std::uint8_t> bmp = {'B', 'M', 0, 0, 0, 0, 0,  0, 0, 0, 54, 0, 0, 0,  // file header
                                   40,  0,   0, 0, 3, 0, 0,  0, 2, 0, 0,  0, 1, 0,
                                   24,  0,   0, 0, 0, 0, 24, 0, 0, 0, 0,  0, 0, 0,
                                   0,   0,   0, 0, 0, 0, 0,  0, 0, 0, 0,  0};
  // Bottom row (y = 1) first: B, G, R per pixel.
  const std::vector<std::uint8_t> bottom = {3, 2, 1, 6, 5, 4, 9, 8, 7, 0, 0, 0};
  const std::vector<std::uint8_t> top = {30, 20, 10, 60, 50, 40, 90, 80, 70, 0, 0, 0};
  bmp.insert(bmp.end(), bottom.begin(), bottom.end());
  bmp.insert(bmp.end(), top.begin(), top.end());
  write_bytes(dir.file("a.bmp"), bmp);
  const Image b = cnn::io::read_image(dir.file("a.bmp"));
  CHECK(b.h == 2);
  CHECK(b.w == 3);
  CHECK(b.data == std::vector<std::uint8_t>{10, 20, 30, 40, 50, 60, 70, 80, 90,  //
                                            1, 2, 3, 4, 5, 6, 7, 8, 9});
  bmp.resize(bmp.size() - 4);
  write_bytes(dir.file("cut.bmp"), bmp);
  CHECK(contains(decode_error(dir.file("cut.bmp")), "BMP pixel data is truncated"));

  const std::string ppm = "P6\n# comment\n2 1\n255\n";
  std::vector<std::uint8_t> p(ppm.begin(), ppm.end());
  for (std::uint8_t v : {1, 2, 3, 4, 5, 6}) p.push_back(v);
  write_bytes(dir.file("a.ppm"), p);
  const Image pi = cnn::io::read_image(dir.file("a.ppm"));
  CHECK(pi.c == 3);
  CHECK(pi.data == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});

  const std::string pgm = "P5 2 2 15 ";
  std::vector<std::uint8_t> g(pgm.begin(), pgm.end());
  for (std::uint8_t v : {0, 5, 10, 15}) g.push_back(v);
  write_bytes(dir.file("a.pgm"), g);
  CHECK(cnn::io::read_image(dir.file("a.pgm")).data == std::vector<std::uint8_t>{0, 85, 170, 255});
}

TEST_CASE("image: grayscale conversion uses PIL's L weights") {
  Image red(1, 3, 3);
  red.data = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  // PIL: Image.new("RGB", (1, 1), c).convert("L") gives 76, 150, 29.
  CHECK(cnn::io::to_grayscale(red).data == std::vector<std::uint8_t>{76, 150, 29});
}

TEST_CASE("image: nearest resize replicates pixels and picks PIL's source pixels") {
  Image img(2, 2, 1);
  img.data = {1, 2, 3, 4};
  const Image big = cnn::io::resize(img, 4, 4, Interpolation::nearest);
  CHECK(big.data == std::vector<std::uint8_t>{1, 1, 2, 2,  //
                                              1, 1, 2, 2,  //
                                              3, 3, 4, 4,  //
                                              3, 3, 4, 4});
  // PIL: Image.fromarray([[10, 20, 30, 40, 50]]).resize((2, 1), NEAREST) == [20, 40].
  CHECK(cnn::io::resize(row({10, 20, 30, 40, 50}), 1, 2, Interpolation::nearest).data ==
        std::vector<std::uint8_t>{20, 40});
  Image rgb(1, 2, 3);
  rgb.data = {1, 2, 3, 4, 5, 6};
  CHECK(cnn::io::resize(rgb, 1, 3, Interpolation::nearest).data ==
        std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6, 4, 5, 6});  // PIL: src 0.33, 1.0, 1.67
}

TEST_CASE("image: bilinear resize matches PIL on known cases") {
  // Constant images stay constant, enlarged or shrunk.
  Image flat(7, 5, 3);
  std::fill(flat.data.begin(), flat.data.end(), std::uint8_t{123});
  for (auto [h, w] : {std::pair<std::size_t, std::size_t>{3, 2}, {11, 13}, {7, 2}}) {
    const Image r = cnn::io::resize(flat, h, w, Interpolation::bilinear);
    CHECK(r.h == h);
    CHECK(r.w == w);
    CHECK(std::all_of(r.data.begin(), r.data.end(), [](std::uint8_t v) { return v == 123; }));
  }
  // Values computed by PIL 9.4 (Image.resize(..., BILINEAR)):
  // enlarging [0, 255] to 4 pixels interpolates between centres, edges clamped;
  CHECK(cnn::io::resize(row({0, 255}), 1, 4, Interpolation::bilinear).data ==
        std::vector<std::uint8_t>{0, 64, 191, 255});
  // shrinking [0, 100, 200, 255] to 2 widens the triangle to 2 source pixels (antialiasing):
  // (0*3 + 100*3 + 200*1) / 7 = 71.4 and (100*1 + 200*3 + 255*3) / 7 = 209.3.
  CHECK(cnn::io::resize(row({0, 100, 200, 255}), 1, 2, Interpolation::bilinear).data ==
        std::vector<std::uint8_t>{71, 209});
  // Vertical works like horizontal.
  Image col(4, 1, 1);
  col.data = {0, 100, 200, 255};
  CHECK(cnn::io::resize(col, 2, 1, Interpolation::bilinear).data ==
        std::vector<std::uint8_t>{71, 209});
  CHECK_THROWS_AS(cnn::io::resize(flat, 0, 3, Interpolation::bilinear), DataError);
}

// Issue #17: libjpeg warns (and fills gray or garbage) where data is corrupt; only warnings that
// leave the pixels intact may pass, and a failed file must not spoil the next one.
TEST_CASE(
    "image: corrupt JPEG data is refused, harmless warnings are not, and errors do not stick") {
  if (!cnn::test::have_data(kCat)) return;
  TempDir dir;
  const auto good = read_bytes(kCat);
  const Image ref = cnn::io::read_image(kCat);
  auto find = [&](std::uint8_t marker, bool last) {
    const std::vector<std::uint8_t> m = {0xff, marker};
    const auto it = last ? std::find_end(good.begin(), good.end(), m.begin(), m.end())
                         : std::search(good.begin(), good.end(), m.begin(), m.end());
    REQUIRE(it != good.end());
    return static_cast<std::size_t>(it - good.begin());
  };
  const std::size_t sos = find(0xda, false), eoi = find(0xd9, true), dht = find(0xc4, false);
  auto with = [&](std::size_t at, std::vector<std::uint8_t> bytes, std::size_t replace = 0) {
    auto b = good;
    b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
            b.begin() + static_cast<std::ptrdiff_t>(at + replace));
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin(), bytes.end());
    return b;
  };
  const std::vector<std::uint8_t> bogus_dht = {0xff, 0xc4, 0x00, 0x13, 0x00, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  auto error_of = [&](const std::vector<std::uint8_t>& b, const std::string& file) {
    write_bytes(dir.file(file), b);
    return decode_error(dir.file(file));
  };
  // 64 bytes of garbage in the middle of the scan: a warning, gray pixels; refused.
  CHECK(
      contains(error_of(with((sos + eoi) / 2, std::vector<std::uint8_t>(64, 0x55), 64), "mid.jpg"),
               "corrupt JPEG data: premature end of data segment"));
  // A harmless warning (bytes between segments) and then a fatal error after the scan: TurboJPEG
  // reports a warning; refused.
  auto wf = with(eoi, bogus_dht);
  wf.insert(wf.begin() + static_cast<std::ptrdiff_t>(sos), {0x00, 0x00});
  CHECK(contains(error_of(wf, "warn_fatal.jpg"),
                 "corrupt JPEG data: Bogus Huffman table definition"));
  // Bytes skipped between segments (before the scan, before the end): the same pixels.
  for (const auto& b : {with(sos, {0x00, 0x00}), with(eoi, {0x00, 0x11, 0x22})}) {
    write_bytes(dir.file("extra.jpg"), b);
    CHECK(cnn::io::read_image(dir.file("extra.jpg")).data == ref.data);
  }
  // A broken Huffman table in the header, then the intact photo on the same thread.
  auto bad = good;
  std::fill(bad.begin() + static_cast<std::ptrdiff_t>(dht + 5),
            bad.begin() + static_cast<std::ptrdiff_t>(dht + 21), std::uint8_t{0xff});
  CHECK(contains(error_of(bad, "bad_header.jpg"), "Bogus Huffman table definition"));
  CHECK(cnn::io::read_image(kCat).data == ref.data);
}
