// ImageDataGenerator augmentation as a job (what cnn-augment runs): a source dataset through
// AugmentedDataset, out as image files in a folder (Keras's save_to_dir previews) or as a record
// stream (io/record_stream.hpp) for a training process that reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "io/record_stream.hpp"
#include "tensor/config.hpp"

namespace cnn::data {

// The settings from a file (configs/augment/*.json; empty: none) with overrides applied in
// order, each {key, value text}: the text is read as JSON, or taken as a string when it is not
// JSON ("nearest"). Defaults < file < overrides. Throws ConfigError for a file that is not an
// object of settings and for bad settings (parse_augment_settings), naming where they came from
// ("<flags>", the file, or "FILE + flags").
struct ResolvedAugmentSettings {
  json values;       // the merged JSON
  std::string name;  // where they came from, for messages
  AugmentSettings settings;
};
ResolvedAugmentSettings resolve_augment_settings(
    const std::string& file, const std::vector<std::pair<std::string, std::string>>& overrides);

struct AugmentJob {
  std::string source;      // a dataset spec (open_dataset)
  DatasetOptions dataset;  // how the source is read; its rescale is set to 1 (pixel units)
  AugmentSettings settings;
  std::optional<Transform> transform;  // apply this one transformation instead of random ones

  // Exactly one output. A folder: `count` augmented images per source image, named
  // PREFIX_SOURCE_K.png (or .jpeg), in source order.
  std::string save_dir, save_prefix;
  std::string save_format = "png";  // png | jpeg | jpg
  std::size_t count = 1;
  // Or a record stream to `output` ("-": stdout) over `epochs` passes (none: endless, until the
  // reader closes the pipe), shuffled per epoch unless shuffle is false.
  bool stream = false;
  std::string output = "-";
  std::optional<std::size_t> epochs;
  io::RecordDtype dtype = io::RecordDtype::float32;
  bool shuffle = true;

  std::uint64_t seed = 0;
  std::size_t threads = 1;
};

struct AugmentResult {
  std::size_t sources = 0;  // source images
  std::size_t images = 0;   // augmented images written
  double seconds = 0;
  bool reader_closed = false;  // the stream's reader closed the pipe (a clean end)
  Shape shape;                 // of one image
};

// Runs the job. A stream carries raw pixel values and declares the settings' rescale in its
// header (the reader applies it, so a model trained on it records the rescale); with
// per-sample or featurewise normalisation it carries the final values. Saved images are
// rounded and clamped to bytes, or stretched from their min..max to 0..255 when the settings
// rescale or centre them (Keras's array_to_img(scale=True)). Throws ConfigError for a job that
// names no output or both, DataError for a source without 1 or 3 channels, and what reading the
// source and writing the output throw. SIGPIPE is ignored while a stream is written.
AugmentResult run_augment(const AugmentJob& job);

}  // namespace cnn::data
