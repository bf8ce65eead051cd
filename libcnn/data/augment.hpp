// Keras ImageDataGenerator augmentation: settings (JSON, Keras keys and defaults), random draws
// of a transformation, the exact transformation (Keras's apply_transform), standardisation, and
// AugmentedDataset, which applies a fresh random transformation to every sample it loads.
//
// Conventions (Keras 2.x's keras.preprocessing.image with SciPy, as tf.keras 2.x ships it):
// - The affine matrix acts on (row, col) coordinates and maps an OUTPUT pixel to the INPUT
//   point it samples (scipy.ndimage.affine_transform). Composition is
//   rotation * shift * shear * zoom, taken about the centre ((h - 1) / 2, (w - 1) / 2)
//   (transform_matrix_offset_center).
// - So tx shifts ROWS and is drawn from height_shift_range, ty shifts COLUMNS and is drawn from
//   width_shift_range; zx scales rows and zy columns; a positive tx samples further down, so the
//   content moves up.
// - shear is in degrees (Keras 2.x; Keras 1 used radians): shear matrix [[1, -sin s], [0, cos s]].
// - Resampling is bilinear (order 1) or nearest (order 0), one resample per image.
// Others behind the "convention" setting: "legacy-centre" takes the centre (h/2 + 0.5, w/2 + 0.5)
// as keras_preprocessing up to 1.1.0 did; "xy" swaps the matrix's axes (M' = P M P) as Keras 2.9+
// does, so tx/zx act on columns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "tensor/config.hpp"
#include "tensor/rng.hpp"

namespace cnn::data {

enum class FillMode { constant, nearest, reflect, wrap };
enum class Convention { keras, legacy_centre, xy };

// Keras width_shift_range / height_shift_range:
//   float f < 1  -> uniform(-f, f) * size;  float f >= 1 -> uniform(-f, f) pixels;
//   int n        -> an integer from {0, ..., n-1} (numpy choice(n)) times a random sign;
//   list         -> a value from the list times a random sign; times size when max < 1.
struct ShiftRange {
  enum class Kind { none, uniform, integer, choices } kind = Kind::none;
  double value = 0;             // uniform: f; integer: n
  std::vector<double> choices;  // choices
};

struct AugmentSettings {
  double rotation_range = 0;  // degrees
  ShiftRange width_shift_range, height_shift_range;
  double shear_range = 0;                  // degrees
  std::array<double, 2> zoom_range{1, 1};  // a float z means [1 - z, 1 + z]
  bool horizontal_flip = false, vertical_flip = false;
  FillMode fill_mode = FillMode::nearest;
  double cval = 0;  // in raw pixel units (before rescale)
  std::optional<std::array<double, 2>> brightness_range;
  double channel_shift_range = 0;  // raw pixel units
  std::optional<double> rescale;
  bool samplewise_center = false, samplewise_std_normalization = false;
  bool featurewise_center = false, featurewise_std_normalization = false;
  int interpolation_order = 1;  // 1 bilinear, 0 nearest
  Convention convention = Convention::keras;

  // Whether any random transformation is configured (else random_transform is the identity).
  bool transforms() const;
  bool needs_featurewise_stats() const {
    return featurewise_center || featurewise_std_normalization;
  }
};

// Reads settings with Keras's keys; unknown keys, negative ranges, zoom <= 0, an unknown
// fill_mode, a brightness pair out of order... throw ConfigError naming file and field.
AugmentSettings parse_augment_settings(const json& j, const std::string& file,
                                       const std::string& pointer = "");
// Reads a settings file (InputError if unreadable, ConfigError if invalid).
AugmentSettings read_augment_settings(const std::string& path);
// The settings as JSON (every key; parse_augment_settings reads it back to equal settings).
json to_json(const AugmentSettings& s);

// One transformation, Keras's transform_parameters (apply_transform).
struct Transform {
  double theta = 0;       // degrees
  double tx = 0, ty = 0;  // pixels, rows and columns (see the conventions above)
  double shear = 0;       // degrees
  double zx = 1, zy = 1;
  bool flip_horizontal = false, flip_vertical = false;
  std::optional<double> channel_shift_intensity;  // raw pixel units
  std::optional<double> brightness;               // factor, PIL ImageEnhance.Brightness
};

// Reads {"theta": 30, "tx": 5, ...} (unknown keys rejected; zx, zy > 0; brightness >= 0).
Transform parse_transform(const json& j, const std::string& file);
json to_json(const Transform& t);

// Draws a transformation for an h x w image, in Keras's order: theta, tx, ty, shear, (zx, zy),
// flip_horizontal, flip_vertical (always drawn, as Keras does), channel shift, brightness.
Transform random_transform(const AugmentSettings& s, std::size_t h, std::size_t w, Rng& rng);

// A 3x3 row-major matrix on homogeneous (row, col, 1).
using Matrix3 = std::array<double, 9>;
Matrix3 multiply(const Matrix3& a, const Matrix3& b);
// The geometric part of t without the centring: rotation * shift * shear * zoom.
Matrix3 transform_matrix(const Transform& t);
// The full matrix from output (row, col) to input (row, col): centred, and convention applied.
Matrix3 sampling_matrix(const Transform& t, std::size_t h, std::size_t w, Convention convention);

// Resamples an HWC float image through m (output pixel -> input point). Samples outside the
// image follow fill_mode: constant (cval outside [0, n-1], as scipy's "constant"), nearest
// (a a a | a b c d | d d d), reflect (d c b a | a b c d | d c b a), wrap (period n, a b c d |
// a b c d). Matrix entries within 1e-9 of an integer are snapped, so rotations by multiples
// of 90 degrees and integer shifts copy pixels exactly. src and dst must not overlap.
void warp_affine(const float* src, float* dst, std::size_t h, std::size_t w, std::size_t c,
                 const Matrix3& m, FillMode fill_mode, float cval, int order);

// Keras's apply_transform on an HWC float image in place: one affine resample (skipped for the
// identity), channel shift, horizontal flip, vertical flip, brightness. value_scale is the
// image's units per raw pixel value (the dataset's rescale, e.g. 1/255): cval and the channel
// shift are scaled by it, and brightness works on raw 0..255 values as PIL does.
void apply_transform(float* x, std::size_t h, std::size_t w, std::size_t c, const Transform& t,
                     const AugmentSettings& s, float value_scale = 1.0f);

// Per-channel statistics for featurewise_center / featurewise_std_normalization (Keras fit()).
struct FeaturewiseStats {
  std::vector<float> mean, std;
};

// Keras's standardize on one image after the transformation: rescale (factor), samplewise
// center, samplewise std normalisation (std + 1e-6), featurewise center, featurewise std.
void standardize(float* x, std::size_t numel, std::size_t c, const AugmentSettings& s,
                 float rescale, const FeaturewiseStats* stats);

// Keras ImageDataGenerator.fit(x) on a whole dataset (not augmented): per-channel mean and the
// standard deviation of the centred data, after multiplying by rescale. Deterministic.
FeaturewiseStats fit_featurewise(const Dataset& ds, float rescale, std::size_t threads);

// A dataset whose samples are the inner dataset's with a random transformation drawn from the
// per-sample seed (so a Batcher gives the same batches for any thread count), then
// standardised. input_scale is the inner dataset's rescale factor (what one raw pixel unit is
// worth); the output is multiplied by settings.rescale (default 1) on top of it.
class AugmentedDataset : public Dataset {
 public:
  // threads: for fitting featurewise statistics when the settings need them.
  AugmentedDataset(std::unique_ptr<Dataset> inner, AugmentSettings settings, float input_scale,
                   std::size_t threads = 1);
  std::size_t size() const override { return inner_->size(); }
  Shape sample_shape() const override { return inner_->sample_shape(); }
  const std::vector<std::string>& class_names() const override { return inner_->class_names(); }
  ClassMode class_mode() const override { return inner_->class_mode(); }
  std::int32_t label(std::size_t index) const override { return inner_->label(index); }
  std::string sample_name(std::size_t index) const override { return inner_->sample_name(index); }
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;
  std::size_t epoch_block() const override { return inner_->epoch_block(); }

  const Dataset& inner() const { return *inner_; }
  const AugmentSettings& settings() const { return settings_; }
  const FeaturewiseStats& stats() const { return stats_; }
  // The transformation load() applies to a sample loaded with this seed.
  Transform transform_for(std::uint64_t seed) const;
  // Exact mode: apply t to every sample instead of random draws.
  void set_fixed_transform(Transform t) { fixed_ = t; }

 private:
  std::unique_ptr<Dataset> inner_;
  AugmentSettings settings_;
  float input_scale_, rescale_;
  FeaturewiseStats stats_;
  std::optional<Transform> fixed_;
};

// Keeps every sample of the inner dataset after its first load, as bytes when its values are
// whole numbers in 0..255 (images read with rescale 1), else as floats; for passes that read
// each sample many times (cnn-augment --count, --epochs). Safe for concurrent loads.
class CachedDataset : public Dataset {
 public:
  explicit CachedDataset(std::unique_ptr<Dataset> inner);
  std::size_t size() const override { return inner_->size(); }
  Shape sample_shape() const override { return inner_->sample_shape(); }
  const std::vector<std::string>& class_names() const override { return inner_->class_names(); }
  ClassMode class_mode() const override { return inner_->class_mode(); }
  std::int32_t label(std::size_t index) const override { return inner_->label(index); }
  std::string sample_name(std::size_t index) const override { return inner_->sample_name(index); }
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;
  std::size_t epoch_block() const override { return inner_->epoch_block(); }

 private:
  struct Entry {
    std::once_flag once;
    std::vector<std::uint8_t> bytes;
    std::vector<float> floats;
  };
  std::unique_ptr<Dataset> inner_;
  std::unique_ptr<Entry[]> entries_;
};

const char* fill_mode_name(FillMode m);

}  // namespace cnn::data
