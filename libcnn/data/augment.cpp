// ImageDataGenerator semantics: settings, random draws, the affine resample, colour transforms,
// standardisation and the augmenting dataset wrapper (see augment.hpp for the conventions).
#include "data/augment.hpp"

#include <algorithm>
#include <cmath>

#include "data/batcher.hpp"
#include "io/atomic_file.hpp"

namespace cnn::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
double deg2rad(double d) { return d * kPi / 180.0; }

const std::vector<std::string> kFillModes = {"constant", "nearest", "reflect", "wrap"};
const std::vector<std::string> kConventions = {"keras", "legacy-centre", "xy"};

ShiftRange parse_shift(ConfigReader& r, const std::string& key) {
  ShiftRange s;
  const json* v = r.get_raw(key);
  if (!v || v->is_null()) return s;
  if (v->is_number_integer() || v->is_number_unsigned()) {
    const long n = v->get<long>();
    if (n < 0) throw r.error(key, "expected a range >= 0, got " + json_brief(*v));
    if (n > 0) {
      s.kind = ShiftRange::Kind::integer;
      s.value = static_cast<double>(n);
    }
    return s;
  }
  if (v->is_number()) {
    const double f = v->get<double>();
    if (!(f >= 0) || !std::isfinite(f))
      throw r.error(key, "expected a range >= 0, got " + json_brief(*v));
    if (f > 0) {
      s.kind = ShiftRange::Kind::uniform;
      s.value = f;
    }
    return s;
  }
  if (v->is_array() && !v->empty()) {
    for (const auto& e : *v) {
      if (!e.is_number() || !std::isfinite(e.get<double>()))
        throw r.error(key, "expected a list of numbers, got " + json_brief(*v));
      s.choices.push_back(e.get<double>());
    }
    s.kind = ShiftRange::Kind::choices;
    return s;
  }
  throw r.error(key,
                "expected a number (fraction < 1 or pixels) or a non-empty list of "
                "choices, got " +
                    json_brief(*v));
}

json shift_json(const ShiftRange& s) {
  switch (s.kind) {
    case ShiftRange::Kind::none:
      return 0.0;
    case ShiftRange::Kind::uniform:
      return s.value;
    case ShiftRange::Kind::integer:
      return static_cast<long>(s.value);
    case ShiftRange::Kind::choices:
      break;
  }
  return s.choices;
}

// A pair [lo, hi] of numbers with min <= lo <= hi.
std::array<double, 2> parse_pair(ConfigReader& r, const std::string& key, const json& v, double min,
                                 bool min_exclusive) {
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
    throw r.error(key, "expected a list of two numbers [low, high], got " + json_brief(v));
  const double lo = v[0].get<double>(), hi = v[1].get<double>();
  const bool bad_min = min_exclusive ? !(lo > min) : !(lo >= min);
  if (bad_min || !std::isfinite(hi))
    throw r.error(key, std::string("expected values ") + (min_exclusive ? "> " : ">= ") +
                           json(min).dump() + ", got " + json_brief(v));
  if (!(lo <= hi)) throw r.error(key, "expected low <= high, got " + json_brief(v));
  return {lo, hi};
}

// Draw from a shift range for an axis of the given size (Keras get_random_transform).
double draw_shift(const ShiftRange& s, std::size_t size, Rng& rng) {
  double t = 0;
  switch (s.kind) {
    case ShiftRange::Kind::none:
      return 0;
    case ShiftRange::Kind::uniform:
      t = rng.uniform(static_cast<float>(-s.value), static_cast<float>(s.value));
      if (s.value < 1) t *= static_cast<double>(size);
      return t;
    case ShiftRange::Kind::integer:
      // numpy choice(n) picks from 0..n-1, then a random sign (Keras's int behaviour).
      t = static_cast<double>(rng.below(static_cast<std::uint64_t>(s.value)));
      return rng.below(2) ? t : -t;
    case ShiftRange::Kind::choices:
      break;
  }
  t = s.choices[rng.below(s.choices.size())];
  t = rng.below(2) ? t : -t;
  if (*std::max_element(s.choices.begin(), s.choices.end()) < 1) t *= static_cast<double>(size);
  return t;
}

// Index maps for fill modes (i may be any integer).
inline long map_index(long i, long n, FillMode mode) {
  switch (mode) {
    case FillMode::nearest:
    case FillMode::constant:
      return i < 0 ? 0 : (i >= n ? n - 1 : i);
    case FillMode::reflect: {
      const long p = 2 * n;
      long m = i % p;
      if (m < 0) m += p;
      return m >= n ? p - 1 - m : m;
    }
    case FillMode::wrap: {
      long m = i % n;
      return m < 0 ? m + n : m;
    }
  }
  return 0;
}

inline double snap(double v) {
  const double r = std::nearbyint(v);
  return std::fabs(v - r) < 1e-9 ? r : v;
}

bool is_identity(const Transform& t) {
  return t.theta == 0 && t.tx == 0 && t.ty == 0 && t.shear == 0 && t.zx == 1 && t.zy == 1;
}

}  // namespace

const char* fill_mode_name(FillMode m) { return kFillModes[static_cast<std::size_t>(m)].c_str(); }

bool AugmentSettings::transforms() const {
  return rotation_range != 0 || width_shift_range.kind != ShiftRange::Kind::none ||
         height_shift_range.kind != ShiftRange::Kind::none || shear_range != 0 ||
         zoom_range[0] != 1 || zoom_range[1] != 1 || horizontal_flip || vertical_flip ||
         brightness_range || channel_shift_range != 0;
}

AugmentSettings parse_augment_settings(const json& j, const std::string& file,
                                       const std::string& pointer) {
  if (!j.is_object())
    throw ConfigError(file, pointer, "",
                      "expected an object of ImageDataGenerator settings, got " + json_brief(j));
  AugmentSettings s;
  ConfigReader r(j, file, pointer, "");
  s.rotation_range = r.get_number("rotation_range", 0.0, 0.0, 1e6);
  s.width_shift_range = parse_shift(r, "width_shift_range");
  s.height_shift_range = parse_shift(r, "height_shift_range");
  s.shear_range = r.get_number("shear_range", 0.0, 0.0, 1e6);
  if (const json* z = r.get_raw("zoom_range"); z && !z->is_null()) {
    if (z->is_number()) {
      const double f = z->get<double>();
      if (!(f >= 0)) throw r.error("zoom_range", "expected a range >= 0, got " + json_brief(*z));
      if (!(f < 1))
        throw r.error("zoom_range",
                      "a zoom range z means [1 - z, 1 + z], so z must be below 1 "
                      "(zoom must stay > 0), got " +
                          json_brief(*z));
      s.zoom_range = {1 - f, 1 + f};
    } else {
      s.zoom_range = parse_pair(r, "zoom_range", *z, 0.0, true);
    }
  }
  s.horizontal_flip = r.get_bool("horizontal_flip", false);
  s.vertical_flip = r.get_bool("vertical_flip", false);
  s.fill_mode = static_cast<FillMode>(
      std::find(kFillModes.begin(), kFillModes.end(),
                r.get_choice("fill_mode", std::string("nearest"), kFillModes)) -
      kFillModes.begin());
  s.cval = r.get_number("cval", 0.0);
  if (const json* b = r.get_raw("brightness_range"); b && !b->is_null())
    s.brightness_range = parse_pair(r, "brightness_range", *b, 0.0, false);
  s.channel_shift_range = r.get_number("channel_shift_range", 0.0, 0.0, 1e6);
  if (const json* rs = r.get_raw("rescale"); rs && !rs->is_null()) {
    if (!rs->is_number() || !std::isfinite(rs->get<double>()))
      throw r.error("rescale", "expected a number or null, got " + json_brief(*rs));
    if (rs->get<double>() != 0) s.rescale = rs->get<double>();  // Keras: 0/None mean none
  }
  s.samplewise_center = r.get_bool("samplewise_center", false);
  s.samplewise_std_normalization = r.get_bool("samplewise_std_normalization", false);
  s.featurewise_center = r.get_bool("featurewise_center", false);
  s.featurewise_std_normalization = r.get_bool("featurewise_std_normalization", false);
  // Keras turns the centring on when std normalisation is asked for (with a warning).
  if (s.samplewise_std_normalization) s.samplewise_center = true;
  if (s.featurewise_std_normalization) s.featurewise_center = true;
  s.interpolation_order = static_cast<int>(r.get_int("interpolation_order", 1, 0, 1));
  const std::string conv = r.get_choice("convention", std::string("keras"), kConventions);
  s.convention = static_cast<Convention>(std::find(kConventions.begin(), kConventions.end(), conv) -
                                         kConventions.begin());
  r.finish();
  return s;
}

AugmentSettings read_augment_settings(const std::string& path) {
  return parse_augment_settings(parse_json(io::read_file(path), path), path);
}

json to_json(const AugmentSettings& s) {
  json j = json::object();
  j["rotation_range"] = s.rotation_range;
  j["width_shift_range"] = shift_json(s.width_shift_range);
  j["height_shift_range"] = shift_json(s.height_shift_range);
  j["shear_range"] = s.shear_range;
  j["zoom_range"] = {s.zoom_range[0], s.zoom_range[1]};
  j["horizontal_flip"] = s.horizontal_flip;
  j["vertical_flip"] = s.vertical_flip;
  j["fill_mode"] = fill_mode_name(s.fill_mode);
  j["cval"] = s.cval;
  j["brightness_range"] =
      s.brightness_range ? json{(*s.brightness_range)[0], (*s.brightness_range)[1]} : json();
  j["channel_shift_range"] = s.channel_shift_range;
  j["rescale"] = s.rescale ? json(*s.rescale) : json();
  j["samplewise_center"] = s.samplewise_center;
  j["samplewise_std_normalization"] = s.samplewise_std_normalization;
  j["featurewise_center"] = s.featurewise_center;
  j["featurewise_std_normalization"] = s.featurewise_std_normalization;
  j["interpolation_order"] = s.interpolation_order;
  j["convention"] = kConventions[static_cast<std::size_t>(s.convention)];
  return j;
}

Transform parse_transform(const json& j, const std::string& file) {
  if (!j.is_object())
    throw ConfigError(file, "", "",
                      "expected an object like {\"theta\": 30}, got " + json_brief(j));
  ConfigReader r(j, file, "", "");
  Transform t;
  t.theta = r.get_number("theta", 0.0);
  t.tx = r.get_number("tx", 0.0);
  t.ty = r.get_number("ty", 0.0);
  t.shear = r.get_number("shear", 0.0);
  t.zx = r.get_number("zx", 1.0, 1e-6, 1e6);
  t.zy = r.get_number("zy", 1.0, 1e-6, 1e6);
  t.flip_horizontal = r.get_bool("flip_horizontal", false);
  t.flip_vertical = r.get_bool("flip_vertical", false);
  if (const json* v = r.get_raw("channel_shift_intensity"); v && !v->is_null())
    t.channel_shift_intensity = r.get_number("channel_shift_intensity", std::nullopt);
  if (const json* v = r.get_raw("brightness"); v && !v->is_null())
    t.brightness = r.get_number("brightness", std::nullopt, 0.0, 1e6);
  r.finish();
  return t;
}

json to_json(const Transform& t) {
  json j = json::object();
  j["theta"] = t.theta;
  j["tx"] = t.tx;
  j["ty"] = t.ty;
  j["shear"] = t.shear;
  j["zx"] = t.zx;
  j["zy"] = t.zy;
  j["flip_horizontal"] = t.flip_horizontal;
  j["flip_vertical"] = t.flip_vertical;
  j["channel_shift_intensity"] =
      t.channel_shift_intensity ? json(*t.channel_shift_intensity) : json();
  j["brightness"] = t.brightness ? json(*t.brightness) : json();
  return j;
}

Transform random_transform(const AugmentSettings& s, std::size_t h, std::size_t w, Rng& rng) {
  Transform t;
  const auto sym = [&](double r) {
    return static_cast<double>(rng.uniform(static_cast<float>(-r), static_cast<float>(r)));
  };
  if (s.rotation_range != 0) t.theta = sym(s.rotation_range);
  t.tx = draw_shift(s.height_shift_range, h, rng);  // rows (Keras's tx)
  t.ty = draw_shift(s.width_shift_range, w, rng);   // columns (Keras's ty)
  if (s.shear_range != 0) t.shear = sym(s.shear_range);
  if (s.zoom_range[0] != 1 || s.zoom_range[1] != 1) {
    const auto lo = static_cast<float>(s.zoom_range[0]), hi = static_cast<float>(s.zoom_range[1]);
    t.zx = rng.uniform(lo, hi);
    t.zy = rng.uniform(lo, hi);
  }
  t.flip_horizontal = rng.uniform() < 0.5f && s.horizontal_flip;
  t.flip_vertical = rng.uniform() < 0.5f && s.vertical_flip;
  if (s.channel_shift_range != 0) t.channel_shift_intensity = sym(s.channel_shift_range);
  if (s.brightness_range)
    t.brightness = rng.uniform(static_cast<float>((*s.brightness_range)[0]),
                               static_cast<float>((*s.brightness_range)[1]));
  return t;
}

Matrix3 multiply(const Matrix3& a, const Matrix3& b) {
  Matrix3 m{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double acc = 0;
      for (int k = 0; k < 3; ++k) acc += a[i * 3 + k] * b[k * 3 + j];
      m[i * 3 + j] = acc;
    }
  return m;
}

Matrix3 transform_matrix(const Transform& t) {
  Matrix3 m{1, 0, 0, 0, 1, 0, 0, 0, 1};
  if (t.theta != 0) {
    const double a = deg2rad(t.theta), c = std::cos(a), s = std::sin(a);
    m = multiply(m, {c, -s, 0, s, c, 0, 0, 0, 1});
  }
  if (t.tx != 0 || t.ty != 0) m = multiply(m, {1, 0, t.tx, 0, 1, t.ty, 0, 0, 1});
  if (t.shear != 0) {
    const double a = deg2rad(t.shear);
    m = multiply(m, {1, -std::sin(a), 0, 0, std::cos(a), 0, 0, 0, 1});
  }
  if (t.zx != 1 || t.zy != 1) m = multiply(m, {t.zx, 0, 0, 0, t.zy, 0, 0, 0, 1});
  return m;
}

Matrix3 sampling_matrix(const Transform& t, std::size_t h, std::size_t w, Convention convention) {
  const double H = static_cast<double>(h), W = static_cast<double>(w);
  double o0 = H / 2 - 0.5, o1 = W / 2 - 0.5;
  if (convention == Convention::legacy_centre) o0 = H / 2 + 0.5, o1 = W / 2 + 0.5;
  Matrix3 m = multiply(multiply({1, 0, o0, 0, 1, o1, 0, 0, 1}, transform_matrix(t)),
                       {1, 0, -o0, 0, 1, -o1, 0, 0, 1});
  if (convention == Convention::xy) {
    // Keras 2.9+: the matrix is built for (x, y) = (col, row) and permuted: M' = P M P.
    Matrix3 p{0, 1, 0, 1, 0, 0, 0, 0, 1};
    m = multiply(multiply(p, m), p);
  }
  return m;
}

void warp_affine(const float* src, float* dst, std::size_t h, std::size_t w, std::size_t c,
                 const Matrix3& matrix, FillMode mode, float cval, int order) {
  // Entries within 1e-9 of a whole number are snapped, so rotations by multiples of 90 degrees
  // (cos 90 = 6e-17) and integer shifts give whole-number sample points: exact copies.
  Matrix3 m = matrix;
  for (double& v : m) v = snap(v);
  const long H = static_cast<long>(h), W = static_cast<long>(w);
  const double top = static_cast<double>(H - 1), right = static_cast<double>(W - 1);
  for (long r = 0; r < H; ++r) {
    float* out = dst + static_cast<std::size_t>(r) * w * c;
    const double R = static_cast<double>(r);
    for (long col = 0; col < W; ++col, out += c) {
      const double C = static_cast<double>(col);
      const double yr = m[0] * R + m[1] * C + m[2];
      const double xc = m[3] * R + m[4] * C + m[5];
      if (order == 0) {
        const long ir = static_cast<long>(std::floor(yr + 0.5)),
                   ic = static_cast<long>(std::floor(xc + 0.5));
        if (mode == FillMode::constant && (ir < 0 || ir >= H || ic < 0 || ic >= W)) {
          std::fill(out, out + c, cval);
          continue;
        }
        const float* p = src + (static_cast<std::size_t>(map_index(ir, H, mode)) * w +
                                static_cast<std::size_t>(map_index(ic, W, mode))) *
                                   c;
        std::copy(p, p + c, out);
        continue;
      }
      long ra, rb, ca, cb;
      float fr, fc;
      if (yr >= 0 && yr < top && xc >= 0 && xc < right) {
        // Inside: both neighbours exist on each axis (the common case; no index mapping).
        ra = static_cast<long>(yr);
        ca = static_cast<long>(xc);
        rb = ra + 1;
        cb = ca + 1;
        fr = static_cast<float>(yr - static_cast<double>(ra));
        fc = static_cast<float>(xc - static_cast<double>(ca));
      } else {
        if (mode == FillMode::constant && (yr < 0 || yr > top || xc < 0 || xc > right)) {
          std::fill(out, out + c, cval);
          continue;
        }
        const long r0 = static_cast<long>(std::floor(yr)), c0 = static_cast<long>(std::floor(xc));
        fr = static_cast<float>(yr - static_cast<double>(r0));
        fc = static_cast<float>(xc - static_cast<double>(c0));
        ra = map_index(r0, H, mode);
        rb = map_index(r0 + 1, H, mode);
        ca = map_index(c0, W, mode);
        cb = map_index(c0 + 1, W, mode);
      }
      const float* p00 =
          src + (static_cast<std::size_t>(ra) * w + static_cast<std::size_t>(ca)) * c;
      const float* p01 =
          src + (static_cast<std::size_t>(ra) * w + static_cast<std::size_t>(cb)) * c;
      const float* p10 =
          src + (static_cast<std::size_t>(rb) * w + static_cast<std::size_t>(ca)) * c;
      const float* p11 =
          src + (static_cast<std::size_t>(rb) * w + static_cast<std::size_t>(cb)) * c;
      const float gr = 1.0f - fr, gc = 1.0f - fc;
      for (std::size_t k = 0; k < c; ++k)
        out[k] = gr * (gc * p00[k] + fc * p01[k]) + fr * (gc * p10[k] + fc * p11[k]);
    }
  }
}

namespace {

// PIL's ImageEnhance.Brightness on an 8-bit image, as Keras's apply_brightness_shift(x, b,
// scale=False) uses it: values within [0, 255] are truncated to bytes; otherwise the image is
// stretched to 0..255 first and mapped back afterwards. Blend with black: byte * b, truncated.
void brightness_shift(float* x, std::size_t n, double factor, float value_scale) {
  float lo = x[0] / value_scale, hi = lo;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i] / value_scale;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const bool stretch = lo < 0 || hi > 255;
  const float range = hi - lo;
  const float alpha = static_cast<float>(factor);
  for (std::size_t i = 0; i < n; ++i) {
    float v = x[i] / value_scale;
    // Undo the rounding of the rescale (100/255 * 255 = 99.99999): whole pixel values stay whole.
    if (value_scale != 1.0f && std::fabs(v - std::nearbyint(v)) < 1e-3f) v = std::nearbyint(v);
    if (stretch) v = range != 0 ? (v - lo) / range * 255.0f : 0.0f;
    const float byte = std::trunc(std::clamp(v, 0.0f, 255.0f));
    float out = alpha == 1.0f ? byte : alpha * byte;
    out = out <= 0 ? 0.0f : (out >= 255.0f ? 255.0f : std::trunc(out));
    if (stretch) out = out / 255.0f * range + lo;
    x[i] = out * value_scale;
  }
}

}  // namespace

void apply_transform(float* x, std::size_t h, std::size_t w, std::size_t c, const Transform& t,
                     const AugmentSettings& s, float value_scale) {
  const std::size_t n = h * w * c;
  if (!is_identity(t)) {
    thread_local std::vector<float> tmp;
    tmp.assign(x, x + n);
    warp_affine(tmp.data(), x, h, w, c, sampling_matrix(t, h, w, s.convention), s.fill_mode,
                static_cast<float>(s.cval) * value_scale, s.interpolation_order);
  }
  if (t.channel_shift_intensity && n > 0) {
    const auto [mn, mx] = std::minmax_element(x, x + n);
    const float lo = *mn, hi = *mx;
    const float d = static_cast<float>(*t.channel_shift_intensity) * value_scale;
    for (std::size_t i = 0; i < n; ++i) x[i] = std::clamp(x[i] + d, lo, hi);
  }
  if (t.flip_horizontal)
    for (std::size_t r = 0; r < h; ++r)
      for (std::size_t a = 0, b = w - 1; a < b; ++a, --b)
        std::swap_ranges(x + (r * w + a) * c, x + (r * w + a + 1) * c, x + (r * w + b) * c);
  if (t.flip_vertical)
    for (std::size_t a = 0, b = h - 1; a < b; ++a, --b)
      std::swap_ranges(x + a * w * c, x + (a + 1) * w * c, x + b * w * c);
  if (t.brightness && n > 0) brightness_shift(x, n, *t.brightness, value_scale);
}

void standardize(float* x, std::size_t numel, std::size_t c, const AugmentSettings& s,
                 float rescale, const FeaturewiseStats* stats) {
  if (rescale != 1.0f)
    for (std::size_t i = 0; i < numel; ++i) x[i] *= rescale;
  if (s.samplewise_center && numel > 0) {
    double sum = 0;
    for (std::size_t i = 0; i < numel; ++i) sum += x[i];
    const auto mean = static_cast<float>(sum / static_cast<double>(numel));
    for (std::size_t i = 0; i < numel; ++i) x[i] -= mean;
  }
  if (s.samplewise_std_normalization && numel > 0) {
    double sq = 0;
    for (std::size_t i = 0; i < numel; ++i) sq += static_cast<double>(x[i]) * x[i];
    const auto d = static_cast<float>(std::sqrt(sq / static_cast<double>(numel)) + 1e-6);
    for (std::size_t i = 0; i < numel; ++i) x[i] /= d;
  }
  if (stats && s.featurewise_center)
    for (std::size_t i = 0; i < numel; ++i) x[i] -= stats->mean[i % c];
  if (stats && s.featurewise_std_normalization)
    for (std::size_t i = 0; i < numel; ++i) x[i] /= stats->std[i % c] + 1e-6f;
}

FeaturewiseStats fit_featurewise(const Dataset& ds, float rescale, std::size_t threads) {
  const std::size_t c = ds.sample_shape().back();
  std::vector<double> sum(c, 0.0), sq(c, 0.0);
  BatcherOptions bo;
  bo.batch_size = 64;
  bo.shuffle = false;
  bo.threads = threads;
  Batcher b(ds, bo);
  Batch batch;
  std::size_t count = 0;
  while (b.next(batch)) {
    const std::size_t n = batch.size * ds.sample_numel();
    const float* p = batch.x.data();
    for (std::size_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(p[i]) * rescale;
      sum[i % c] += v;
      sq[i % c] += v * v;
    }
    count += n / c;
  }
  FeaturewiseStats st;
  for (std::size_t k = 0; k < c; ++k) {
    const double mean = count ? sum[k] / static_cast<double>(count) : 0.0;
    const double var =
        count ? std::max(0.0, sq[k] / static_cast<double>(count) - mean * mean) : 0.0;
    st.mean.push_back(static_cast<float>(mean));
    st.std.push_back(static_cast<float>(std::sqrt(var)));
  }
  return st;
}

AugmentedDataset::AugmentedDataset(std::unique_ptr<Dataset> inner, AugmentSettings settings,
                                   float input_scale, std::size_t threads)
    : inner_(std::move(inner)),
      settings_(std::move(settings)),
      input_scale_(input_scale),
      rescale_(static_cast<float>(settings_.rescale.value_or(1.0))) {
  if (settings_.needs_featurewise_stats())
    stats_ = fit_featurewise(*inner_, rescale_, std::max<std::size_t>(1, threads));
}

Transform AugmentedDataset::transform_for(std::uint64_t seed) const {
  if (fixed_) return *fixed_;
  // The seed is salted so the draws differ from any other use of the same per-sample seed.
  Rng rng(seed ^ 0xa0c3e17d5b9f2468ULL);
  const Shape shape = inner_->sample_shape();
  return random_transform(settings_, shape[0], shape[1], rng);
}

void AugmentedDataset::load(std::size_t index, float* out, std::int32_t& label,
                            std::uint64_t seed) const {
  inner_->load(index, out, label, seed);
  const Shape shape = inner_->sample_shape();
  apply_transform(out, shape[0], shape[1], shape[2], transform_for(seed), settings_, input_scale_);
  standardize(out, numel(shape), shape[2], settings_, rescale_,
              settings_.needs_featurewise_stats() ? &stats_ : nullptr);
}

CachedDataset::CachedDataset(std::unique_ptr<Dataset> inner)
    : inner_(std::move(inner)), entries_(new Entry[inner_->size()]) {}

void CachedDataset::load(std::size_t index, float* out, std::int32_t& label,
                         std::uint64_t seed) const {
  Entry& e = entries_[index];
  const std::size_t n = inner_->sample_numel();
  std::call_once(e.once, [&] {
    std::vector<float> x(n);
    std::int32_t ignored;
    inner_->load(index, x.data(), ignored, seed);
    const bool bytes = std::all_of(
        x.begin(), x.end(), [](float v) { return v >= 0 && v <= 255 && v == std::trunc(v); });
    if (bytes)
      e.bytes.assign(x.begin(), x.end());
    else
      e.floats = std::move(x);
  });
  label = inner_->label(index);
  if (!e.bytes.empty())
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(e.bytes[i]);
  else
    std::copy(e.floats.begin(), e.floats.end(), out);
}

}  // namespace cnn::data
