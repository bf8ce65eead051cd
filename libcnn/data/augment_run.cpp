// See augment_run.hpp.
#include "data/augment_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "data/batcher.hpp"
#include "dist/comm.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/image.hpp"
#include "tensor/error.hpp"

namespace cnn::data {
namespace {

// Every sample repeated `count` times in a row: index j is source sample j / count.
class RepeatDataset : public Dataset {
 public:
  RepeatDataset(const Dataset& inner, std::size_t count) : inner_(inner), count_(count) {}
  std::size_t size() const override { return inner_.size() * count_; }
  Shape sample_shape() const override { return inner_.sample_shape(); }
  const std::vector<std::string>& class_names() const override { return inner_.class_names(); }
  ClassMode class_mode() const override { return inner_.class_mode(); }
  std::int32_t label(std::size_t i) const override { return inner_.label(i / count_); }
  std::string sample_name(std::size_t i) const override { return inner_.sample_name(i / count_); }
  void load(std::size_t i, float* out, std::int32_t& label, std::uint64_t seed) const override {
    inner_.load(i / count_, out, label, seed);
  }

 private:
  const Dataset& inner_;
  std::size_t count_;
};

// An image for saving: values rounded and clamped to bytes, or stretched from min..max to 0..255.
io::Image to_image(const float* x, const Shape& shape, bool stretch) {
  io::Image img(shape[0], shape[1], shape[2]);
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

BatcherOptions batcher_options(const AugmentJob& job, bool shuffle) {
  BatcherOptions bo;
  bo.batch_size = 32;
  bo.seed = job.seed;
  bo.threads = job.threads;
  bo.prefetch = 4;
  bo.shuffle = shuffle;
  return bo;
}

// Writes the stream; returns the images written and whether the reader closed the pipe.
std::pair<std::size_t, bool> write_stream(const AugmentJob& job, const AugmentedDataset& augmented,
                                          std::size_t sources,
                                          std::optional<float> declared_rescale) {
  io::RecordHeader h;
  h.shape = augmented.sample_shape();
  h.dtype = job.dtype;
  h.classes = augmented.class_names();
  h.class_mode = augmented.num_classes() == 2 ? "binary" : "sparse";
  if (job.epochs) h.count = static_cast<std::uint64_t>(*job.epochs) * sources;
  h.rescale = declared_rescale;
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe shows up as EPIPE: a clean end
  std::size_t written = 0;
  try {
    io::RecordWriter writer(job.output, h);
    Batcher batcher(augmented, batcher_options(job, job.shuffle));
    Batch batch;
    const std::size_t per = augmented.sample_numel();
    for (std::size_t e = 0; !job.epochs || e < *job.epochs; ++e) {
      batcher.start_epoch(e);
      while (batcher.next(batch))
        for (std::size_t i = 0; i < batch.size; ++i, ++written)
          writer.write(batch.labels[i], batch.x.data() + i * per);
      writer.flush();
    }
    writer.finish();
  } catch (const io::BrokenPipe&) {
    return {written, true};  // the reader has what it wanted
  }
  return {written, false};
}

// Sharded over the processes of a job (mpirun): each writes the files of its contiguous range
// of the batches into the shared folder; the names and the draws are the one-process ones.
std::size_t save_images(const AugmentJob& job, const AugmentedDataset& augmented) {
  namespace fs = std::filesystem;
  RepeatDataset repeated(augmented, job.count);
  BatcherOptions bo = batcher_options(job, false);
  shard_over_processes(bo, true);
  Batcher batcher(repeated, bo);
  Batch batch;
  const std::size_t per = augmented.sample_numel();
  const AugmentSettings& s = job.settings;
  const bool stretch = s.rescale || s.samplewise_center || s.featurewise_center;
  const std::string ext = job.save_format == "png" ? "png" : "jpeg";
  std::size_t written = 0;
  while (batcher.next(batch))
    for (std::size_t i = 0; i < batch.size; ++i, ++written) {
      const std::size_t j = batch.indices[i];
      const auto img = to_image(batch.x.data() + i * per, augmented.sample_shape(), stretch);
      const std::string name = job.save_prefix + "_" + std::to_string(j / job.count) + "_" +
                               std::to_string(j % job.count) + "." + ext;
      const std::string path = (fs::path(job.save_dir) / name).string();
      if (ext == "png")
        io::write_png(path, img);
      else
        io::write_jpeg(path, img);
    }
  double all = static_cast<double>(written);
  dist::Comm::world().allreduce_sum(&all, 1);
  return static_cast<std::size_t>(all);
}

}  // namespace

ResolvedAugmentSettings resolve_augment_settings(
    const std::string& file, const std::vector<std::pair<std::string, std::string>>& overrides) {
  ResolvedAugmentSettings r;
  r.values = json::object();
  r.name = file.empty() ? "<flags>" : file;
  if (!file.empty()) {
    r.values = io::read_json(file);
    if (!r.values.is_object()) throw ConfigError(file, "", "", "expected an object of settings");
  }
  for (const auto& [key, text] : overrides) r.values[key] = parse_json_or_text(text);
  if (!overrides.empty() && !file.empty()) r.name = file + " + flags";
  r.settings = parse_augment_settings(r.values, r.name);
  return r;
}

AugmentResult run_augment(const AugmentJob& job) {
  if (job.stream == !job.save_dir.empty())
    throw ConfigError("", "", "", "give exactly one output: a folder or a stream");
  if (job.stream && dist::Comm::world().parallel())
    throw UsageError("--stream",
                     "a stream is written by one process: run it without mpirun "
                     "(--save-to-dir is what several processes share)");
  if (!job.save_dir.empty()) {
    if (!job.save_prefix.empty() && !io::is_plain_name(job.save_prefix))
      throw ConfigError("", "", "",
                        "the save prefix is the start of file names inside the folder; it "
                        "cannot hold '/' or be '..'");
    std::error_code ec;
    std::filesystem::create_directories(job.save_dir, ec);
    io::check_writable_directory(job.save_dir);
  }
  // The source in raw pixel units (rescale 1), so cval and shifts mean pixel values.
  DatasetOptions dopt = job.dataset;
  dopt.rescale = 1.0f;
  std::unique_ptr<Dataset> base = open_dataset(job.source, dopt);
  AugmentResult result;
  result.sources = base->size();
  const bool many_reads = job.stream ? (!job.epochs || *job.epochs > 1) : job.count > 1;
  if (many_reads) base = std::make_unique<CachedDataset>(std::move(base));
  // Only a plain rescale can be declared in a stream's header; the normalisations are applied.
  std::optional<float> declared_rescale;
  AugmentSettings applied = job.settings;
  if (job.stream && applied.rescale && !applied.samplewise_center &&
      !applied.samplewise_std_normalization && !applied.needs_featurewise_stats()) {
    declared_rescale = static_cast<float>(*applied.rescale);
    applied.rescale.reset();
  }
  AugmentedDataset augmented(std::move(base), applied, 1.0f, job.threads);
  if (job.transform) augmented.set_fixed_transform(*job.transform);
  result.shape = augmented.sample_shape();
  if (result.shape.size() != 3 || (result.shape[2] != 1 && result.shape[2] != 3))
    throw DataError(job.source, "expected images with 1 or 3 channels");

  const auto t0 = std::chrono::steady_clock::now();
  if (job.stream)
    std::tie(result.images, result.reader_closed) =
        write_stream(job, augmented, result.sources, declared_rescale);
  else
    result.images = save_images(job, augmented);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace cnn::data
