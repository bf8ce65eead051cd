// ImageDataGenerator augmentation: golden tests of the exact mode (rotations, shifts with every
// fill mode, flips, zooms, composition), random draws within their ranges, seeding, the
// augmented dataset under 1 and 2 batcher threads, standardisation, and bad settings.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "data/augment.hpp"
#include "data/batcher.hpp"
#include "tensor/error.hpp"

using namespace cnn::data;
using cnn::json;

namespace {

// An h x w x c image whose values are all distinct: v = (r * w + col) * c + k + 1.
std::vector<float> ramp(std::size_t h, std::size_t w, std::size_t c) {
  std::vector<float> x(h * w * c);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1);
  return x;
}

float at(const std::vector<float>& x, std::size_t w, std::size_t c, std::size_t r, std::size_t col,
         std::size_t k) {
  return x[(r * w + col) * c + k];
}

std::vector<float> transformed(std::vector<float> x, std::size_t h, std::size_t w, std::size_t c,
                               const Transform& t, FillMode fill = FillMode::nearest,
                               double cval = 0) {
  AugmentSettings s;
  s.fill_mode = fill;
  s.cval = cval;
  apply_transform(x.data(), h, w, c, t, s);
  return x;
}

// Small in-memory dataset: n ramps (offset by the index) of 6x5x3, label = index % 2.
class RampDataset : public Dataset {
 public:
  explicit RampDataset(std::size_t n) : n_(n) {}
  std::size_t size() const override { return n_; }
  cnn::Shape sample_shape() const override { return {6, 5, 3}; }
  const std::vector<std::string>& class_names() const override { return names_; }
  ClassMode class_mode() const override { return ClassMode::binary; }
  std::int32_t label(std::size_t i) const override { return static_cast<std::int32_t>(i % 2); }
  std::string sample_name(std::size_t i) const override { return "ramp" + std::to_string(i); }
  void load(std::size_t i, float* out, std::int32_t& label, std::uint64_t) const override {
    for (std::size_t k = 0; k < 90; ++k) out[k] = static_cast<float>((k * 7 + i * 13) % 256);
    label = this->label(i);
  }

 private:
  std::size_t n_;
  std::vector<std::string> names_{"a", "b"};
};

AugmentSettings lecture() {
  return parse_augment_settings(json::parse(R"({"rotation_range": 40, "width_shift_range": 0.2,
      "height_shift_range": 0.2, "shear_range": 0.2, "zoom_range": 0.2,
      "horizontal_flip": true, "fill_mode": "nearest"})"),
                                "lecture.json");
}

}  // namespace

TEST_CASE("a 90 degree rotation of a square image is the exact transpose-and-flip") {
  for (std::size_t n : {4u, 5u}) {
    const std::size_t c = 2;
    const auto src = ramp(n, n, c);
    Transform t;
    t.theta = 90;
    const auto out = transformed(src, n, n, c, t);
    // out[r][col] = src[n - 1 - col][r]: rows of the output are columns of the input, flipped.
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t col = 0; col < n; ++col)
        for (std::size_t k = 0; k < c; ++k)
          REQUIRE(at(out, n, c, r, col, k) == at(src, n, c, n - 1 - col, r, k));
    t.theta = -90;
    const auto back = transformed(out, n, n, c, t);
    CHECK(back == src);
    t.theta = 180;
    const auto half = transformed(src, n, n, c, t);
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t col = 0; col < n; ++col)
        CHECK(at(half, n, c, r, col, 1) == at(src, n, c, n - 1 - r, n - 1 - col, 1));
  }
}

TEST_CASE("integer shifts move pixels exactly and fill by fill mode") {
  const std::size_t h = 5, w = 4, c = 1;
  const auto src = ramp(h, w, c);
  Transform t;
  t.tx = 2;   // rows: output row r samples input row r + 2
  t.ty = -1;  // columns: output col samples input col - 1
  auto expect_rows = [&](FillMode mode, auto row_of, auto col_of) {
    const auto out = transformed(src, h, w, c, t, mode, -7);
    for (long r = 0; r < 5; ++r)
      for (long col = 0; col < 4; ++col) {
        const long ir = row_of(r + 2), ic = col_of(col - 1);
        const float want = (ir < 0 || ic < 0) ? -7.0f
                                              : at(src, w, c, static_cast<std::size_t>(ir),
                                                   static_cast<std::size_t>(ic), 0);
        INFO("mode ", fill_mode_name(mode), " r ", r, " col ", col);
        REQUIRE(at(out, w, c, static_cast<std::size_t>(r), static_cast<std::size_t>(col), 0) ==
                want);
      }
  };
  expect_rows(
      FillMode::nearest, [](long i) { return std::min(i, 4L); },
      [](long i) { return std::max(i, 0L); });
  expect_rows(
      FillMode::constant, [](long i) { return i > 4 ? -1L : i; },
      [](long i) { return i < 0 ? -1L : i; });
  // reflect: d c b a | a b c d | d c b a
  expect_rows(
      FillMode::reflect, [](long i) { return i > 4 ? 9 - i : i; },
      [](long i) { return i < 0 ? -1 - i : i; });
  expect_rows(
      FillMode::wrap, [](long i) { return i % 5; }, [](long i) { return (i + 4) % 4; });
}

TEST_CASE("flips are exact") {
  const std::size_t h = 3, w = 4, c = 3;
  const auto src = ramp(h, w, c);
  Transform t;
  t.flip_horizontal = true;
  auto out = transformed(src, h, w, c, t);
  for (std::size_t r = 0; r < h; ++r)
    for (std::size_t col = 0; col < w; ++col)
      for (std::size_t k = 0; k < c; ++k)
        REQUIRE(at(out, w, c, r, col, k) == at(src, w, c, r, w - 1 - col, k));
  t = {};
  t.flip_vertical = true;
  out = transformed(src, h, w, c, t);
  for (std::size_t r = 0; r < h; ++r)
    for (std::size_t col = 0; col < w; ++col)
      REQUIRE(at(out, w, c, r, col, 2) == at(src, w, c, h - 1 - r, col, 2));
}

TEST_CASE("zoom 2 and 0.5 map known pixels to known places") {
  const std::size_t n = 5, c = 1;  // centre (2, 2)
  const auto src = ramp(n, n, c);
  Transform t;
  t.zx = t.zy = 2;  // output p samples input 2 + 2 (p - 2): a zoom OUT of the content
  auto out = transformed(src, n, n, c, t, FillMode::constant, 0);
  CHECK(at(out, n, c, 2, 2, 0) == at(src, n, c, 2, 2, 0));
  CHECK(at(out, n, c, 1, 3, 0) == at(src, n, c, 0, 4, 0));
  CHECK(at(out, n, c, 3, 1, 0) == at(src, n, c, 4, 0, 0));
  CHECK(at(out, n, c, 0, 2, 0) == 0.0f);  // samples row -2: outside
  t.zx = t.zy = 0.5;                      // output p samples input 2 + (p - 2) / 2: a zoom IN
  out = transformed(src, n, n, c, t);
  CHECK(at(out, n, c, 0, 4, 0) == at(src, n, c, 1, 3, 0));
  CHECK(at(out, n, c, 4, 0, 0) == at(src, n, c, 3, 1, 0));
  // (1, 2) samples (1.5, 2): the mean of rows 1 and 2 (bilinear)
  CHECK(at(out, n, c, 1, 2, 0) ==
        doctest::Approx((at(src, n, c, 1, 2, 0) + at(src, n, c, 2, 2, 0)) / 2));
  // zx alone scales rows only.
  t.zx = 2;
  t.zy = 1;
  out = transformed(src, n, n, c, t);
  CHECK(at(out, n, c, 1, 1, 0) == at(src, n, c, 0, 1, 0));
}

TEST_CASE("composed transforms equal the product of their matrices") {
  Transform t;
  t.theta = 23;
  t.tx = 1.5;
  t.ty = -2.25;
  t.shear = 12;
  t.zx = 1.2;
  t.zy = 0.9;
  Transform rot, shift, shear, zoom;
  rot.theta = t.theta;
  shift.tx = t.tx;
  shift.ty = t.ty;
  shear.shear = t.shear;
  zoom.zx = t.zx;
  zoom.zy = t.zy;
  const Matrix3 product = multiply(multiply(transform_matrix(rot), transform_matrix(shift)),
                                   multiply(transform_matrix(shear), transform_matrix(zoom)));
  const Matrix3 m = transform_matrix(t);
  for (int i = 0; i < 9; ++i) CHECK(m[i] == doctest::Approx(product[i]).epsilon(1e-12));
  // Centring: the composition of the centred parts is the centred composition.
  const std::size_t h = 7, w = 9, c = 2;
  const Matrix3 centred = multiply(multiply(sampling_matrix(rot, h, w, Convention::keras),
                                            sampling_matrix(shift, h, w, Convention::keras)),
                                   multiply(sampling_matrix(shear, h, w, Convention::keras),
                                            sampling_matrix(zoom, h, w, Convention::keras)));
  const Matrix3 full = sampling_matrix(t, h, w, Convention::keras);
  for (int i = 0; i < 9; ++i) CHECK(full[i] == doctest::Approx(centred[i]).epsilon(1e-9));
  // And the image is that one resample.
  const auto src = ramp(h, w, c);
  const auto out = transformed(src, h, w, c, t);
  std::vector<float> direct(src.size());
  warp_affine(src.data(), direct.data(), h, w, c, centred, FillMode::nearest, 0, 1);
  for (std::size_t i = 0; i < src.size(); ++i)
    CHECK(out[i] == doctest::Approx(direct[i]).epsilon(1e-5));
  // The shear matrix is Keras's [[1, -sin s], [0, cos s]] in degrees.
  const Matrix3 sm = transform_matrix(shear);
  CHECK(sm[1] == doctest::Approx(-std::sin(12 * 3.14159265358979323846 / 180)));
  CHECK(sm[4] == doctest::Approx(std::cos(12 * 3.14159265358979323846 / 180)));
}

TEST_CASE("conventions: legacy centre and xy axes") {
  Transform t;
  t.tx = 1;
  // keras: tx shifts rows; xy: tx shifts columns.
  const Matrix3 k = sampling_matrix(t, 4, 6, Convention::keras);
  CHECK(k[2] == doctest::Approx(1));
  CHECK(k[5] == doctest::Approx(0));
  const Matrix3 xy = sampling_matrix(t, 4, 6, Convention::xy);
  CHECK(xy[2] == doctest::Approx(0));
  CHECK(xy[5] == doctest::Approx(1));
  // legacy centre (h/2 + 0.5): a 90 degree rotation of 4x4 is off by one from the exact one.
  Transform r;
  r.theta = 90;
  const Matrix3 legacy = sampling_matrix(r, 4, 4, Convention::legacy_centre);
  const Matrix3 exact = sampling_matrix(r, 4, 4, Convention::keras);
  CHECK(legacy[2] - exact[2] == doctest::Approx(2));
}

TEST_CASE("random draws stay within their ranges") {
  const AugmentSettings s = lecture();
  cnn::Rng rng(5);
  std::size_t hflips = 0;
  double min_theta = 1e9, max_theta = -1e9;
  for (int i = 0; i < 20000; ++i) {
    const Transform t = random_transform(s, 150, 100, rng);
    REQUIRE(std::fabs(t.theta) <= 40);
    REQUIRE(std::fabs(t.tx) <= 0.2 * 150 + 1e-9);
    REQUIRE(std::fabs(t.ty) <= 0.2 * 100 + 1e-9);
    REQUIRE(std::fabs(t.shear) <= 0.2);
    REQUIRE(t.zx >= 0.8 - 1e-6);
    REQUIRE(t.zx <= 1.2 + 1e-6);
    REQUIRE(t.zy >= 0.8 - 1e-6);
    REQUIRE(t.zy <= 1.2 + 1e-6);
    REQUIRE_FALSE(t.flip_vertical);
    REQUIRE_FALSE(t.channel_shift_intensity);
    REQUIRE_FALSE(t.brightness);
    hflips += t.flip_horizontal;
    min_theta = std::min(min_theta, t.theta);
    max_theta = std::max(max_theta, t.theta);
  }
  CHECK(hflips > 9000);
  CHECK(hflips < 11000);
  CHECK(min_theta < -39);  // the whole range is used
  CHECK(max_theta > 39);

  const AugmentSettings other = parse_augment_settings(
      json::parse(R"({"width_shift_range": 3, "height_shift_range": [0.1, 0.25],
          "channel_shift_range": 20, "brightness_range": [0.5, 1.5], "zoom_range": [0.5, 0.7]})"),
      "x");
  std::set<double> widths, heights;
  for (int i = 0; i < 5000; ++i) {
    const Transform t = random_transform(other, 40, 30, rng);
    widths.insert(t.ty);
    heights.insert(t.tx);
    REQUIRE(std::fabs(*t.channel_shift_intensity) <= 20);
    REQUIRE(*t.brightness >= 0.5);
    REQUIRE(*t.brightness <= 1.5);
    REQUIRE(t.zx >= 0.5);
    REQUIRE(t.zy <= 0.7);
  }
  // int 3: numpy choice(3) times a sign -> {-2, -1, 0, 1, 2}; list [0.1, 0.25] of 40 rows.
  CHECK(widths == std::set<double>{-2, -1, 0, 1, 2});
  CHECK(heights == std::set<double>{-10, -4, 4, 10});
}

TEST_CASE("channel shift, brightness and standardisation follow Keras") {
  std::vector<float> x = {10, 20, 200, 250};
  Transform t;
  t.channel_shift_intensity = 30;
  AugmentSettings s;
  apply_transform(x.data(), 2, 2, 1, t, s);
  CHECK(x == std::vector<float>{40, 50, 230, 250});  // clipped to the image's max
  x = {10.7f, 100.2f, 200.9f, 255.0f};
  t = {};
  t.brightness = 0.5;
  apply_transform(x.data(), 2, 2, 1, t, s);
  CHECK(x == std::vector<float>{5, 50, 100, 127});  // bytes (truncated) * 0.5, truncated
  // The same in rescaled units (value_scale 1/255) gives the same image, rescaled.
  x = {10.0f / 255, 100.0f / 255, 200.0f / 255, 1.0f};
  apply_transform(x.data(), 2, 2, 1, t, s, 1.0f / 255);
  CHECK(x[1] * 255 == doctest::Approx(50));
  CHECK(x[3] * 255 == doctest::Approx(127));

  s = parse_augment_settings(json::parse(R"({"samplewise_std_normalization": true,
                                             "rescale": 0.5})"),
                             "x");
  CHECK(s.samplewise_center);  // implied, as Keras does
  x = {2, 4, 6, 8};
  standardize(x.data(), 4, 1, s, 0.5f, nullptr);
  double mean = 0, sq = 0;
  for (float v : x) mean += v;
  for (float v : x) sq += v * v;
  CHECK(mean == doctest::Approx(0).epsilon(1e-6));
  CHECK(std::sqrt(sq / 4) == doctest::Approx(1).epsilon(1e-4));
}

TEST_CASE("featurewise statistics are fitted per channel") {
  AugmentSettings s =
      parse_augment_settings(json::parse(R"({"featurewise_std_normalization": true})"), "x");
  CHECK(s.featurewise_center);
  AugmentedDataset ds(std::make_unique<RampDataset>(7), s, 1.0f, 2);
  REQUIRE(ds.stats().mean.size() == 3);
  std::vector<float> all(7 * 90);
  for (std::size_t i = 0; i < 7; ++i) {
    std::int32_t label;
    ds.load(i, all.data() + i * 90, label, 0);
  }
  for (std::size_t k = 0; k < 3; ++k) {
    double m = 0, sq = 0;
    for (std::size_t i = k; i < all.size(); i += 3) m += all[i];
    m /= static_cast<double>(all.size() / 3);
    for (std::size_t i = k; i < all.size(); i += 3) sq += (all[i] - m) * (all[i] - m);
    CHECK(m == doctest::Approx(0).epsilon(1e-4));
    CHECK(std::sqrt(sq / static_cast<double>(all.size() / 3)) == doctest::Approx(1).epsilon(1e-3));
  }
}

TEST_CASE("the same seed gives the same output, batches do not depend on threads") {
  AugmentedDataset ds(std::make_unique<RampDataset>(23), lecture(), 1.0f);
  std::vector<float> a(90), b(90), c(90);
  std::int32_t label;
  ds.load(3, a.data(), label, 42);
  ds.load(3, b.data(), label, 42);
  ds.load(3, c.data(), label, 43);
  CHECK(a == b);
  CHECK(a != c);

  auto epoch = [&](std::size_t threads) {
    BatcherOptions o;
    o.batch_size = 4;
    o.seed = 9;
    o.threads = threads;
    Batcher batcher(ds, o);
    std::vector<float> all;
    Batch batch;
    for (std::size_t e = 0; e < 2; ++e) {
      batcher.start_epoch(e);
      while (batcher.next(batch))
        all.insert(all.end(), batch.x.data(), batch.x.data() + batch.size * 90);
    }
    return all;
  };
  const auto one = epoch(1);
  CHECK(one == epoch(2));
  CHECK(one == epoch(0));
}

TEST_CASE("bad settings name the field") {
  auto bad = [](const char* text, const char* field) {
    try {
      parse_augment_settings(json::parse(text), "aug.json");
      FAIL("no error for " << text);
    } catch (const cnn::ConfigError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find("aug.json") != std::string::npos);
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
  };
  bad(R"({"rotation_range": -5})", "/rotation_range");
  bad(R"({"width_shift_range": -0.1})", "/width_shift_range");
  bad(R"({"height_shift_range": "x"})", "/height_shift_range");
  bad(R"({"shear_range": -1})", "/shear_range");
  bad(R"({"zoom_range": 1.5})", "/zoom_range");
  bad(R"({"zoom_range": [0, 1]})", "/zoom_range");
  bad(R"({"zoom_range": [1.2, 0.8]})", "/zoom_range");
  bad(R"({"fill_mode": "mirror"})", "/fill_mode");
  bad(R"({"brightness_range": [1.2, 0.8]})", "/brightness_range");
  bad(R"({"brightness_range": 0.5})", "/brightness_range");
  bad(R"({"channel_shift_range": -3})", "/channel_shift_range");
  bad(R"({"rotation": 40})", "rotation");
  CHECK_THROWS_AS(parse_transform(json::parse(R"({"theta": 1, "zoom": 2})"), "t"),
                  cnn::ConfigError);
  CHECK_THROWS_AS(parse_transform(json::parse(R"({"zx": 0})"), "t"), cnn::ConfigError);
}

TEST_CASE("settings round-trip through JSON") {
  const AugmentSettings s = lecture();
  const json j = to_json(s);
  CHECK(to_json(parse_augment_settings(j, "x")) == j);
  CHECK(j["zoom_range"] == json{0.8, 1.2});
}
