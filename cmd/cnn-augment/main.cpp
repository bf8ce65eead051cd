// cnn-augment: Keras ImageDataGenerator augmentation as a pipeline stage: augmented images to a
// folder (previews), or a record stream on stdout for cnn-train --data - (DESIGN.md).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/run_main.hpp"
#include "data/augment_run.hpp"
#include "dist/comm.hpp"
#include "io/atomic_file.hpp"
#include "tensor/error.hpp"

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
    std::vector<std::pair<std::string, std::string>> overrides(setting_values.begin(),
                                                               setting_values.end());
    for (const auto& [k, v] : bool_values) overrides.emplace_back(k, v ? "true" : "false");
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0)
        throw CLI::ValidationError("--set expects KEY=VALUE, got '" + s + "'");
      overrides.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    cnn::data::AugmentJob job;
    job.source = source;
    job.settings = cnn::data::resolve_augment_settings(config_path, overrides).settings;
    if (!transform_text.empty())
      job.transform =
          cnn::data::parse_transform(cnn::parse_json(transform_text, "--transform"), "--transform");
    if (!target_size.empty()) {
      if (target_size[0] == 0 || target_size[1] == 0)
        throw CLI::ValidationError("--target-size needs two positive numbers");
      job.dataset.target_h = target_size[0];
      job.dataset.target_w = target_size[1];
    }
    if (color_mode) {
      auto m = cnn::data::parse_color_mode(*color_mode);
      if (!m) throw CLI::ValidationError("--color-mode: expected rgb or grayscale");
      job.dataset.color_mode = *m;
    }
    if (interpolation) {
      auto m = cnn::data::parse_interpolation(*interpolation);
      if (!m) throw CLI::ValidationError("--interpolation: expected nearest or bilinear");
      job.dataset.interpolation = *m;
    }
    job.dataset.class_mode = cnn::data::ClassMode::sparse;
    job.threads = job.dataset.threads = cnn::cmd::resolve_threads(common.threads);
    job.dataset.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    job.save_dir = save_dir;
    job.save_prefix = save_prefix;
    job.save_format = save_format;
    job.count = count;
    job.stream = stream;
    job.output = output;
    job.epochs = epochs;
    job.dtype = dtype == "uint8" ? cnn::io::RecordDtype::uint8 : cnn::io::RecordDtype::float32;
    job.shuffle = !no_shuffle;
    job.seed = common.seed;

    const cnn::data::AugmentResult r = cnn::data::run_augment(job);
    // Sharded over the processes of a job (mpirun): the first reports for all.
    if (!cnn::dist::Comm::world().is_root()) return cnn::cmd::kOk;
    const double rate = r.seconds > 0 ? static_cast<double>(r.images) / r.seconds : 0.0;
    if (!common.quiet) {
      char line[200];
      std::snprintf(line, sizeof line,
                    "cnn-augment: %zu images from %zu sources in %.2f s (%.0f images/s)%s",
                    r.images, r.sources, r.seconds, rate,
                    r.reader_closed ? "; the reader closed the stream" : "");
      std::cerr << line << "\n";
    }
    if (common.json) {
      cnn::json_ordered j;
      j["source"] = source;
      j["sources"] = r.sources;
      j["images"] = r.images;
      j["seconds"] = r.seconds;
      j["images_per_second"] = rate;
      j["output"] = stream ? output : save_dir;
      j["shape"] = r.shape;
      j["settings"] = cnn::data::to_json(job.settings);
      if (job.transform) j["transform"] = cnn::data::to_json(*job.transform);
      std::cout << j.dump() << "\n";
    }
    return cnn::cmd::kOk;
  });
}
