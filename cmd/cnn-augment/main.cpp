// cnn-augment: Keras ImageDataGenerator augmentation as a pipeline stage: augmented images to a
// folder (previews), or a record stream on stdout for cnn-train --data - (DESIGN.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "common/run_main.hpp"
#include "data/augment.hpp"
#include "data/batcher.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/image.hpp"
#include "io/record_stream.hpp"
#include "tensor/error.hpp"

namespace {

using cnn::json;

// Every sample repeated `count` times in a row: index j is source sample j / count.
class RepeatDataset : public cnn::data::Dataset {
 public:
  RepeatDataset(const cnn::data::Dataset& inner, std::size_t count)
      : inner_(inner), count_(count) {}
  std::size_t size() const override { return inner_.size() * count_; }
  cnn::Shape sample_shape() const override { return inner_.sample_shape(); }
  const std::vector<std::string>& class_names() const override { return inner_.class_names(); }
  cnn::data::ClassMode class_mode() const override { return inner_.class_mode(); }
  std::int32_t label(std::size_t i) const override { return inner_.label(i / count_); }
  std::string sample_name(std::size_t i) const override { return inner_.sample_name(i / count_); }
  void load(std::size_t i, float* out, std::int32_t& label, std::uint64_t seed) const override {
    inner_.load(i / count_, out, label, seed);
  }

 private:
  const cnn::data::Dataset& inner_;
  std::size_t count_;
};

// An image for saving: values rounded and clamped to bytes, or, when the settings rescale or
// standardise, stretched from min..max to 0..255 as Keras's array_to_img(scale=True) does.
cnn::io::Image to_image(const float* x, const cnn::Shape& shape, bool stretch) {
  cnn::io::Image img(shape[0], shape[1], shape[2]);
  const std::size_t n = img.data.size();
  float lo = 0, hi = 255;
  if (stretch && n) {
    lo = *std::min_element(x, x + n);
    hi = *std::max_element(x, x + n);
  }
  const float range = hi - lo;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = stretch ? (range != 0 ? (x[i] - lo) / range * 255.0f : 0.0f) : x[i];
    img.data[i] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(v), 0.0f, 255.0f));
  }
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Keras ImageDataGenerator augmentation: write augmented images to a folder, or a record\n"
      "stream (share/record-stream.md) to stdout for cnn-train --data -.\n\n"
      "Examples:\n"
      "  cnn-augment photos/ --config configs/augment/lecture.json --target-size 150 150 \\\n"
      "              --save-to-dir preview --save-format jpeg --count 4\n"
      "  cnn-augment photos/ --config configs/augment/lecture.json --target-size 150 150 \\\n"
      "              --stream --epochs 1 | cnn-train --model m.json --data - -o runs/aug\n"
      "  cnn-augment photos/ --transform '{\"theta\": 30, \"zx\": 1.2}' --save-to-dir preview",
      "cnn-augment"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);

  std::string source, config_path, save_dir, save_prefix, save_format = "png", output = "-";
  std::string transform_text, dtype = "float32";
  std::size_t count = 1;
  std::optional<std::size_t> epochs;
  bool stream = false, no_shuffle = false;
  std::vector<std::size_t> target_size;
  std::optional<std::string> color_mode, interpolation;
  std::vector<std::string> sets;
  // Settings flags: each value is read as JSON (a bare word as a string) into the settings.
  const std::vector<std::pair<std::string, std::string>> setting_flags = {
      {"rotation_range", "Degrees: rotations drawn from [-r, r]"},
      {"width_shift_range", "Fraction of the width (< 1), pixels (>= 1), or a JSON list"},
      {"height_shift_range", "Fraction of the height (< 1), pixels (>= 1), or a JSON list"},
      {"shear_range", "Degrees (Keras 2.x): shear angles drawn from [-s, s]"},
      {"zoom_range", "z for [1-z, 1+z], or a JSON pair [low, high]"},
      {"fill_mode", "constant, nearest, reflect or wrap"},
      {"cval", "Fill value for fill_mode constant (pixel units)"},
      {"brightness_range", "JSON pair [low, high] of brightness factors"},
      {"channel_shift_range", "Channel shifts drawn from [-r, r] (pixel units)"},
      {"rescale", "Multiply the output by this (e.g. 0.00392156862745098)"},
      {"interpolation_order", "1 bilinear (default) or 0 nearest"},
      {"convention", "keras (default), legacy-centre or xy (see share/cnn-augment.md)"},
  };
  std::map<std::string, std::string> setting_values;
  const std::vector<std::string> bool_settings = {
      "horizontal_flip",    "vertical_flip",
      "samplewise_center",  "samplewise_std_normalization",
      "featurewise_center", "featurewise_std_normalization"};
  std::map<std::string, bool> bool_values;

  app.add_option("source", source,
                 "Dataset: a folder of class sub-folders, fashion-mnist:train, "
                 "DIR:train, idx:IMAGES,LABELS, a record stream")
      ->required();
  app.add_option("--config", config_path, "ImageDataGenerator settings (configs/augment/*.json)");
  for (const auto& [key, help] : setting_flags) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    app.add_option_function<std::string>(
        flag, [&, key = key](const std::string& v) { setting_values[key] = v; }, help);
  }
  for (const auto& key : bool_settings) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    app.add_flag_function(
        flag, [&, key = key](std::int64_t) { bool_values[key] = true; }, "Keras " + key);
  }
  app.add_option("--set", sets, "Any setting: KEY=VALUE (VALUE as JSON)");
  app.add_option("--transform", transform_text,
                 "Exact mode: apply this one transformation (JSON: theta, tx, ty, shear, zx, zy, "
                 "flip_horizontal, flip_vertical, channel_shift_intensity, brightness)");
  app.add_option("--save-to-dir", save_dir, "Write augmented images to this folder");
  app.add_option("--save-prefix", save_prefix, "File name prefix of saved images");
  app.add_option("--save-format", save_format, "png or jpeg")
      ->check(CLI::IsMember({"png", "jpeg", "jpg"}));
  app.add_option("--count", count, "Augmented images per source image (--save-to-dir)")
      ->check(cnn::cmd::at_least(1));
  app.add_flag("--stream", stream, "Write a record stream (stdout, or --output)");
  app.add_option("-o,--output", output, "Record stream file (default: - for stdout)");
  app.add_option("--epochs", epochs, "Passes over the source (--stream); default: endless")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--dtype", dtype, "Record values: float32 or uint8 (rounded, 4x smaller)")
      ->check(CLI::IsMember({"float32", "uint8"}));
  app.add_flag("--no-shuffle", no_shuffle,
               "Stream the source in order (default: shuffled per "
               "epoch, as Keras's flow)");
  app.add_option("--target-size", target_size, "Resize folder images to H W (default 256 256)")
      ->expected(2);
  app.add_option("--color-mode", color_mode, "rgb or grayscale");
  app.add_option("--interpolation", interpolation, "Resize filter: nearest or bilinear");

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    namespace fs = std::filesystem;
    if (stream == !save_dir.empty())
      throw CLI::ValidationError("give exactly one output: --save-to-dir DIR or --stream");
    if (!save_prefix.empty() && !cnn::io::is_plain_name(save_prefix))
      throw CLI::ValidationError(
          "--save-prefix is the start of file names inside --save-to-dir; "
          "it cannot hold '/' or be '..'");
    if (epochs && !stream) throw CLI::ValidationError("--epochs goes with --stream");
    if (app.count("--count") && stream)
      throw CLI::ValidationError("--count goes with --save-to-dir (use --epochs with --stream)");
    if (common.json && stream && output == "-")
      throw CLI::ValidationError("--json needs stdout; give --stream --output FILE");

    // Settings: defaults < --config < flags < --set.
    json settings = json::object();
    std::string settings_name = "<flags>";
    if (!config_path.empty()) {
      settings = cnn::io::read_json(config_path);
      if (!settings.is_object())
        throw cnn::ConfigError(config_path, "", "", "expected an object of settings");
      settings_name = config_path;
    }
    auto as_value = [](const std::string& text) {
      try {
        return cnn::parse_json(text, "--set");
      } catch (const cnn::ConfigError&) {
        return json(text);
      }
    };
    for (const auto& [k, v] : setting_values) settings[k] = as_value(v);
    for (const auto& [k, v] : bool_values) settings[k] = v;
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0)
        throw CLI::ValidationError("--set expects KEY=VALUE, got '" + s + "'");
      settings[s.substr(0, eq)] = as_value(s.substr(eq + 1));
    }
    if (!setting_values.empty() || !bool_values.empty() || !sets.empty())
      settings_name = config_path.empty() ? "<flags>" : config_path + " + flags";
    cnn::data::AugmentSettings aug = cnn::data::parse_augment_settings(settings, settings_name);
    std::optional<cnn::data::Transform> fixed;
    if (!transform_text.empty()) {
      fixed =
          cnn::data::parse_transform(cnn::parse_json(transform_text, "--transform"), "--transform");
    }

    // The source, in raw pixel units (rescale 1) so cval and shifts mean pixel values.
    cnn::data::DatasetOptions dopt;
    if (!target_size.empty()) {
      if (target_size[0] == 0 || target_size[1] == 0)
        throw CLI::ValidationError("--target-size needs two positive numbers");
      dopt.target_h = target_size[0];
      dopt.target_w = target_size[1];
    }
    if (color_mode) {
      auto m = cnn::data::parse_color_mode(*color_mode);
      if (!m) throw CLI::ValidationError("--color-mode: expected rgb or grayscale");
      dopt.color_mode = *m;
    }
    if (interpolation) {
      auto m = cnn::data::parse_interpolation(*interpolation);
      if (!m) throw CLI::ValidationError("--interpolation: expected nearest or bilinear");
      dopt.interpolation = *m;
    }
    dopt.rescale = 1.0f;
    dopt.class_mode = cnn::data::ClassMode::sparse;
    const std::size_t threads = cnn::cmd::resolve_threads(common.threads);
    dopt.threads = threads;
    dopt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    if (!save_dir.empty()) {
      std::error_code ec;
      fs::create_directories(save_dir, ec);
      cnn::io::check_writable_directory(save_dir);
    }
    auto src = cnn::data::open_dataset(source, dopt);
    const std::size_t n_src = src->size();
    const bool many_reads = stream ? (!epochs || *epochs > 1) : count > 1;
    std::unique_ptr<cnn::data::Dataset> base = std::move(src);
    if (many_reads) base = std::make_unique<cnn::data::CachedDataset>(std::move(base));
    // A stream carries raw pixel values and declares the settings' rescale in its header: the
    // reader applies it, and cnn-train records it in the model it trains (so every program
    // that reads the run scales photos the same way). Per-sample and featurewise
    // normalisation cannot be declared so; with them the stream holds the final values.
    std::optional<float> declared_rescale;
    cnn::data::AugmentSettings applied = aug;
    if (stream && aug.rescale && !aug.samplewise_center && !aug.samplewise_std_normalization &&
        !aug.needs_featurewise_stats()) {
      declared_rescale = static_cast<float>(*aug.rescale);
      applied.rescale.reset();
    }
    cnn::data::AugmentedDataset augmented(std::move(base), applied, 1.0f, threads);
    if (fixed) augmented.set_fixed_transform(*fixed);
    const cnn::Shape shape = augmented.sample_shape();
    if (shape.size() != 3 || (shape[2] != 1 && shape[2] != 3))
      throw cnn::DataError(source, "expected images with 1 or 3 channels");

    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe shows up as EPIPE: a clean end
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t written = 0;
    bool reader_closed = false;
    cnn::data::BatcherOptions bo;
    bo.batch_size = 32;
    bo.seed = common.seed;
    bo.threads = threads;
    bo.prefetch = 4;

    if (stream) {
      cnn::io::RecordHeader h;
      h.shape = shape;
      h.dtype = dtype == "uint8" ? cnn::io::RecordDtype::uint8 : cnn::io::RecordDtype::float32;
      h.classes = augmented.class_names();
      h.class_mode = augmented.num_classes() == 2 ? "binary" : "sparse";
      if (epochs) h.count = static_cast<std::uint64_t>(*epochs) * n_src;
      h.rescale = declared_rescale;
      bo.shuffle = !no_shuffle;
      try {
        cnn::io::RecordWriter writer(output, h);
        cnn::data::Batcher batcher(augmented, bo);
        cnn::data::Batch batch;
        const std::size_t per = augmented.sample_numel();
        for (std::size_t e = 0; !epochs || e < *epochs; ++e) {
          batcher.start_epoch(e);
          while (batcher.next(batch))
            for (std::size_t i = 0; i < batch.size; ++i, ++written)
              writer.write(batch.labels[i], batch.x.data() + i * per);
          writer.flush();
        }
        writer.finish();
      } catch (const cnn::io::BrokenPipe&) {
        reader_closed = true;  // the reader has what it wanted
      }
    } else {
      RepeatDataset repeated(augmented, count);
      bo.shuffle = false;
      cnn::data::Batcher batcher(repeated, bo);
      cnn::data::Batch batch;
      const std::size_t per = augmented.sample_numel();
      const bool stretch = aug.rescale || aug.samplewise_center || aug.featurewise_center;
      const std::string ext = save_format == "png" ? "png" : "jpeg";
      while (batcher.next(batch))
        for (std::size_t i = 0; i < batch.size; ++i, ++written) {
          const std::size_t j = batch.indices[i];
          const auto img = to_image(batch.x.data() + i * per, shape, stretch);
          const std::string path =
              (fs::path(save_dir) / (save_prefix + "_" + std::to_string(j / count) + "_" +
                                     std::to_string(j % count) + "." + ext))
                  .string();
          if (ext == "png")
            cnn::io::write_png(path, img);
          else
            cnn::io::write_jpeg(path, img);
        }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = secs > 0 ? static_cast<double>(written) / secs : 0.0;
    if (!common.quiet) {
      char line[200];
      std::snprintf(line, sizeof line,
                    "cnn-augment: %zu images from %zu sources in %.2f s (%.0f images/s)%s", written,
                    n_src, secs, rate, reader_closed ? "; the reader closed the stream" : "");
      std::cerr << line << "\n";
    }
    if (common.json) {
      cnn::json_ordered j;
      j["source"] = source;
      j["sources"] = n_src;
      j["images"] = written;
      j["seconds"] = secs;
      j["images_per_second"] = rate;
      j["output"] = stream ? output : save_dir;
      j["shape"] = shape;
      j["settings"] = cnn::data::to_json(aug);
      if (fixed) j["transform"] = cnn::data::to_json(*fixed);
      std::cout << j.dump() << "\n";
    }
    return cnn::cmd::kOk;
  });
}
