// extract_features: model cut at a layer -> batches in dataset order -> pooled features ->
// record stream / .npy / CSV, all outputs committed only at the end.
#include "train/extract.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "dist/comm.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/npy.hpp"
#include "io/record_stream.hpp"
#include "model/surgery.hpp"
#include "train/finetune.hpp"
#include "train/recipe.hpp"
#include "train/run.hpp"
#include "train/run_dir.hpp"

namespace cnn::train {
namespace fs = std::filesystem;
namespace {

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string float_text(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));  // round-trips a float32
  return buf;
}

}  // namespace

std::optional<FeaturePool> parse_feature_pool(const std::string& name) {
  if (name == "none") return FeaturePool::none;
  if (name == "flatten") return FeaturePool::flatten;
  if (name == "avg") return FeaturePool::avg;
  if (name == "max") return FeaturePool::max;
  return std::nullopt;
}

const char* feature_pool_name(FeaturePool pool) {
  switch (pool) {
    case FeaturePool::flatten:
      return "flatten";
    case FeaturePool::avg:
      return "avg";
    case FeaturePool::max:
      return "max";
    case FeaturePool::none:
      break;
  }
  return "none";
}

Shape pooled_shape(const Shape& sample, FeaturePool pool, const std::string& layer) {
  switch (pool) {
    case FeaturePool::none:
      return sample;
    case FeaturePool::flatten:
      return {numel(sample)};
    case FeaturePool::avg:
    case FeaturePool::max:
      if (sample.size() != 3)
        throw ShapeError(layer, std::string("--pool ") + feature_pool_name(pool) +
                                    " needs an output of shape (None, h, w, c), got " +
                                    shape_str(sample, true) + "; use --pool none or flatten");
      return {sample[2]};
  }
  return sample;
}

void pool_features(const Tensor& act, FeaturePool pool, std::vector<float>& out) {
  const Shape s = shape_of(act);
  if (pool == FeaturePool::none || pool == FeaturePool::flatten) {
    out.assign(act.begin(), act.end());
    return;
  }
  const std::size_t n = s.at(0), hw = s.at(1) * s.at(2), c = s.at(3);
  out.assign(n * c, 0.0f);
  const float* x = act.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t ch = 0; ch < c; ++ch) {
      const float* p = x + i * hw * c + ch;
      if (pool == FeaturePool::avg) {
        double acc = 0;
        for (std::size_t k = 0; k < hw; ++k) acc += p[k * c];
        out[i * c + ch] = static_cast<float>(acc / static_cast<double>(hw));
      } else {
        float m = -std::numeric_limits<float>::infinity();
        for (std::size_t k = 0; k < hw; ++k) m = std::max(m, p[k * c]);
        out[i * c + ch] = m;
      }
    }
}

std::optional<FeatureFormat> feature_format(const std::string& output) {
  if (output == "-") return FeatureFormat::record_stream;
  const std::string ext = fs::path(output).extension().string();
  if (ext == ".cnnrec") return FeatureFormat::record_stream;
  if (ext == ".npy") return FeatureFormat::npy;
  if (ext == ".csv") return FeatureFormat::csv;
  return std::nullopt;
}

std::string npy_labels_path(const std::string& npy_path) {
  return fs::path(npy_path).replace_extension(".labels.npy").string();
}

std::string npy_meta_path(const std::string& npy_path) {
  return fs::path(npy_path).replace_extension(".meta.json").string();
}

namespace {

// What is extracted, for the sinks: the run's files, the features' shape, the data.
struct FeatureSource {
  const ExtractOptions& opt;
  std::string model_path, weights_path;
  Shape shape;            // of one sample's features
  std::size_t numel = 0;  // of one sample's features
  const data::Dataset& data;
};

// Where features go; nothing appears at the output paths until finish() (a sink destroyed
// before removes its temporary files).
class FeatureSink {
 public:
  virtual ~FeatureSink() = default;
  // One batch's features, [b.size, numel].
  virtual void write(const data::Batch& b, const float* features) = 0;
  // Commits; returns the files written.
  virtual std::vector<std::string> finish() = 0;
};

class RecordSink final : public FeatureSink {
 public:
  explicit RecordSink(const FeatureSource& src) : src_(src) {
    io::RecordHeader h;
    h.shape = src.shape;
    h.dtype = io::RecordDtype::float32;
    h.classes = src.data.class_names();
    h.class_mode = h.classes.size() == 2 ? "binary" : "sparse";
    h.count = src.data.size();
    writer_ = std::make_unique<io::RecordWriter>(src.opt.output, h);
  }
  void write(const data::Batch& b, const float* features) override {
    for (std::size_t i = 0; i < b.size; ++i) writer_->write(b.labels[i], features + i * src_.numel);
  }
  std::vector<std::string> finish() override {
    writer_->finish();
    if (src_.opt.output == "-") return {};
    return {src_.opt.output};
  }

 private:
  const FeatureSource& src_;
  std::unique_ptr<io::RecordWriter> writer_;
};

// FILE.npy with FILE.labels.npy and FILE.meta.json (what was extracted, the file of each row).
class NpySink final : public FeatureSink {
 public:
  explicit NpySink(const FeatureSource& src) : src_(src) {
    Shape s{src.data.size()};
    s.insert(s.end(), src.shape.begin(), src.shape.end());
    writer_ = std::make_unique<io::NpyWriter>(src.opt.output, s);
  }
  void write(const data::Batch& b, const float* features) override {
    writer_->write_rows(features, b.size);
    for (std::size_t i = 0; i < b.size; ++i) {
      labels_.push_back(b.labels[i]);
      names_.push_back(src_.data.sample_name(b.indices[i]));
    }
  }
  std::vector<std::string> finish() override {
    // The labels and the metadata first: the features file is the one a reader looks for.
    const ExtractOptions& opt = src_.opt;
    const std::string lp = npy_labels_path(opt.output), mp = npy_meta_path(opt.output);
    io::write_file_atomically(lp, [&](io::AtomicFile& f) {
      f.write(io::npy_header({labels_.size()}, "<i4"));
      f.write(labels_.data(), labels_.size() * sizeof(std::int32_t));
    });
    json_ordered meta;
    meta["features"] = fs::path(opt.output).filename().string();
    meta["labels"] = fs::path(lp).filename().string();
    meta["count"] = labels_.size();
    meta["shape"] = src_.shape;
    meta["model"] = absolute(src_.model_path);
    meta["weights"] = absolute(src_.weights_path);
    meta["layer"] = opt.layer;
    meta["pool"] = feature_pool_name(opt.pool);
    meta["data"] = opt.data;
    meta["classes"] = src_.data.class_names();
    meta["files"] = names_;
    io::write_file_atomically(mp, meta.dump(2) + "\n");
    writer_->commit();
    return {opt.output, lp, mp};
  }

 private:
  const FeatureSource& src_;
  std::unique_ptr<io::NpyWriter> writer_;
  std::vector<std::int32_t> labels_;
  std::vector<std::string> names_;
};

// A header row f0,...,label,class,file; floats written to round-trip.
class CsvSink final : public FeatureSink {
 public:
  explicit CsvSink(const FeatureSource& src) : src_(src), file_(src.opt.output) {
    std::string head;
    for (std::size_t k = 0; k < src.numel; ++k) {
      head += 'f';  // appended piece by piece: GCC 12's -Wrestrict misfires on "f" + to_string
      head += std::to_string(k);
      head += ',';
    }
    file_.write(head + "label,class,file\n");
  }
  void write(const data::Batch& b, const float* features) override {
    std::string rows;
    for (std::size_t i = 0; i < b.size; ++i) {
      for (std::size_t k = 0; k < src_.numel; ++k)
        rows += float_text(features[i * src_.numel + k]) + ",";
      const auto label = static_cast<std::size_t>(b.labels[i]);
      rows += std::to_string(label) + "," + csv_field(src_.data.class_names().at(label)) + "," +
              csv_field(src_.data.sample_name(b.indices[i])) + "\n";
    }
    file_.write(rows);
  }
  std::vector<std::string> finish() override {
    file_.commit();
    return {src_.opt.output};
  }

 private:
  const FeatureSource& src_;
  io::AtomicFile file_;
};

std::unique_ptr<FeatureSink> make_sink(FeatureFormat format, const FeatureSource& src) {
  switch (format) {
    case FeatureFormat::record_stream:
      return std::make_unique<RecordSink>(src);
    case FeatureFormat::npy:
      return std::make_unique<NpySink>(src);
    case FeatureFormat::csv:
      break;
  }
  return std::make_unique<CsvSink>(src);
}

}  // namespace

ExtractResult extract_features(const ExtractOptions& opt) {
  using clock = std::chrono::steady_clock;
  const auto format = feature_format(opt.output);
  if (!format)
    throw UsageError("-o", "'" + opt.output +
                               "': expected a name ending in .cnnrec, .npy or .csv, "
                               "or - for a record stream on stdout");

  // The model, its weights, and the way its inputs are read (train::plan_input).
  const RunDir run = open_run(opt.model, opt.weights, NeedWeights::no);
  if (!run.weights_note.empty() && opt.log) opt.log("note: " + run.weights_note);
  const std::string& model_path = run.model_path;
  const std::string& weights = run.weights_path;
  Model full = io::load_model(model_path);
  const std::size_t at = require_layer(full, opt.layer, "--layer", model_path);
  const Shape sample_out = full.node(at).out_shape;
  const Shape feat_shape = pooled_shape(sample_out, opt.pool, opt.layer);
  if (weights.empty())
    throw InputError(model_path,
                     "no weights to extract features with: give --weights "
                     "W.safetensors (or a directory holding weights.safetensors)");
  if (opt.output != "-") {
    const fs::path parent = fs::path(opt.output).parent_path();
    io::check_writable_directory(parent.empty() ? "." : parent.string());
  }
  Model model = Model::from_json(json::parse(cut_architecture(full, at).dump()), model_path);
  load_base_weights(model, weights, all_layer_names(model));

  // The data, in dataset order, read as the model expects (its own preprocessing).
  data::DatasetOptions dopt =
      plan_input(model, run, opt.data, opt.data_overrides, opt.threads, opt.mnist_dir, opt.log)
          .options;
  dopt.class_mode = data::ClassMode::sparse;  // labels are written as class indices
  const std::unique_ptr<data::Dataset> ds = data::open_dataset(opt.data, dopt);
  if (ds->sample_shape() != model.input_shape())
    throw DataError(opt.data, "samples have shape " + shape_str(ds->sample_shape()) +
                                  " but the model '" + model.name() + "' expects " +
                                  shape_str(model.input_shape()) +
                                  "; set --target-size or --color-mode");
  const std::size_t count = ds->size();
  if (opt.log) {
    opt.log("Found " + std::to_string(count) + " samples belonging to " +
            std::to_string(ds->num_classes()) + " classes (" + opt.data + ").");
    opt.log("Extracting layer '" + opt.layer + "' " + shape_str(sample_out, true) +
            (opt.pool == FeaturePool::none ? std::string()
                                           : std::string(", ") + feature_pool_name(opt.pool) +
                                                 " -> " + shape_str(feat_shape, true)) +
            " of model '" + model.name() + "'.");
  }

  ExtractResult res;
  res.layer = opt.layer;
  res.shape = feat_shape;
  res.classes = ds->class_names();
  const FeatureSource src{opt, model_path, weights, feat_shape, numel(feat_shape), *ds};
  // Sharded over the processes of a job (mpirun): each runs its contiguous range of the batches;
  // the first writes its own as they come, then the others' in rank order: dataset order.
  dist::Comm& comm = dist::Comm::world();
  const std::unique_ptr<FeatureSink> sink = comm.is_root() ? make_sink(*format, src) : nullptr;
  data::BatcherOptions bo{opt.batch_size, false, 0, opt.threads, 2, std::nullopt};
  data::shard_over_processes(bo, true);
  data::Batcher batcher(*ds, bo);
  std::string held;  // another process's batches for the first: per sample label, index, features
  Rng rng(0);
  Context ctx;
  ctx.training = false;
  ctx.output_only = true;  // only the (cut) model's output is read
  ctx.rng = &rng;
  data::Batch b;
  std::vector<float> feats;
  const auto t0 = clock::now();
  batcher.start_epoch(0);
  // This process's samples, which its progress counts.
  const std::size_t shown =
      std::min(count, (batcher.end_step() - batcher.first_step()) * opt.batch_size);
  while (batcher.next(b)) {
    pool_features(model.forward(ctx, b.x), opt.pool, feats);
    if (sink) {
      sink->write(b, feats.data());
    } else {
      for (std::size_t i = 0; i < b.size; ++i) {
        const std::int32_t label = b.labels[i];
        const std::uint64_t index = b.indices[i];
        held.append(reinterpret_cast<const char*>(&label), sizeof label);
        held.append(reinterpret_cast<const char*>(&index), sizeof index);
        held.append(reinterpret_cast<const char*>(feats.data() + i * src.numel),
                    src.numel * sizeof(float));
      }
    }
    res.count += b.size;
    res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (opt.on_batch) opt.on_batch(res.count, shown, res.seconds);
    if (opt.stop && opt.stop->load() && res.count < count) {
      res.interrupted = true;
      break;
    }
  }
  if (comm.parallel()) {
    // A stop asked of any process stops them all, with nothing written.
    double stop = res.interrupted ? 1.0 : 0.0;
    comm.allreduce_sum(&stop, 1);
    res.interrupted = stop > 0;
  }
  if (res.interrupted) return res;  // the sink's destructor removes its temporary files
  if (comm.parallel()) {
    const std::vector<std::string> parts = comm.gather(held);
    const std::size_t rec =
        sizeof(std::int32_t) + sizeof(std::uint64_t) + src.numel * sizeof(float);
    for (std::size_t r = 1; r < parts.size(); ++r) {
      const std::string& part = parts[r];
      if (part.size() % rec != 0) throw Error("a process sent a truncated set of features");
      data::Batch other;
      other.size = part.size() / rec;
      other.labels.resize(other.size);
      other.indices.resize(other.size);
      feats.resize(other.size * src.numel);
      for (std::size_t i = 0; i < other.size; ++i) {
        const char* p = part.data() + i * rec;
        std::uint64_t index = 0;
        std::memcpy(&other.labels[i], p, sizeof(std::int32_t));
        std::memcpy(&index, p + sizeof(std::int32_t), sizeof index);
        other.indices[i] = static_cast<std::size_t>(index);
        std::memcpy(feats.data() + i * src.numel, p + sizeof(std::int32_t) + sizeof index,
                    src.numel * sizeof(float));
      }
      sink->write(other, feats.data());
    }
    res.count = count;
    res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  }
  if (sink) res.files = sink->finish();
  return res;
}

}  // namespace cnn::train
