// extract_features: model cut at a layer -> batches in dataset order -> pooled features ->
// record stream / .npy / CSV, all outputs committed only at the end.
#include "train/extract.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
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
  const std::size_t feat_numel = numel(feat_shape);
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
  const auto& classes = ds->class_names();
  if (opt.log) {
    opt.log("Found " + std::to_string(count) + " samples belonging to " +
            std::to_string(classes.size()) + " classes (" + opt.data + ").");
    opt.log("Extracting layer '" + opt.layer + "' " + shape_str(sample_out, true) +
            (opt.pool == FeaturePool::none ? std::string()
                                           : std::string(", ") + feature_pool_name(opt.pool) +
                                                 " -> " + shape_str(feat_shape, true)) +
            " of model '" + model.name() + "'.");
  }

  // Writers: nothing appears at the output paths until the end.
  ExtractResult res;
  res.layer = opt.layer;
  res.shape = feat_shape;
  res.classes = classes;
  std::unique_ptr<io::RecordWriter> records;
  std::unique_ptr<io::NpyWriter> npy;
  std::unique_ptr<io::AtomicFile> csv;
  std::vector<std::int32_t> labels;
  std::vector<std::string> names;
  if (*format == FeatureFormat::record_stream) {
    io::RecordHeader h;
    h.shape = feat_shape;
    h.dtype = io::RecordDtype::float32;
    h.classes = classes;
    h.class_mode = classes.size() == 2 ? "binary" : "sparse";
    h.count = count;
    records = std::make_unique<io::RecordWriter>(opt.output, h);
  } else if (*format == FeatureFormat::npy) {
    Shape s{count};
    s.insert(s.end(), feat_shape.begin(), feat_shape.end());
    npy = std::make_unique<io::NpyWriter>(opt.output, s);
  } else {
    csv = std::make_unique<io::AtomicFile>(opt.output);
    std::string head;
    for (std::size_t k = 0; k < feat_numel; ++k) head += "f" + std::to_string(k) + ",";
    csv->write(head + "label,class,file\n");
  }

  data::Batcher batcher(*ds, {opt.batch_size, false, 0, opt.threads, 2, std::nullopt});
  Rng rng(0);
  Context ctx;
  ctx.training = false;
  ctx.fuse = true;  // only the (cut) model's output is read
  ctx.rng = &rng;
  data::Batch b;
  std::vector<float> feats;
  const auto t0 = clock::now();
  batcher.start_epoch(0);
  while (batcher.next(b)) {
    pool_features(model.forward(ctx, b.x), opt.pool, feats);
    if (records) {
      for (std::size_t i = 0; i < b.size; ++i)
        records->write(b.labels[i], feats.data() + i * feat_numel);
    } else if (npy) {
      npy->write_rows(feats.data(), b.size);
    } else {
      std::string rows;
      for (std::size_t i = 0; i < b.size; ++i) {
        for (std::size_t k = 0; k < feat_numel; ++k)
          rows += float_text(feats[i * feat_numel + k]) + ",";
        const auto label = static_cast<std::size_t>(b.labels[i]);
        rows += std::to_string(label) + "," + csv_field(classes.at(label)) + "," +
                csv_field(ds->sample_name(b.indices[i])) + "\n";
      }
      csv->write(rows);
    }
    for (std::size_t i = 0; i < b.size; ++i) {
      labels.push_back(b.labels[i]);
      if (npy) names.push_back(ds->sample_name(b.indices[i]));
    }
    res.count += b.size;
    res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (opt.on_batch) opt.on_batch(res.count, count, res.seconds);
    if (opt.stop && opt.stop->load() && res.count < count) {
      res.interrupted = true;
      return res;  // the writers' destructors remove their temporary files
    }
  }

  if (records) {
    records->finish();
    if (opt.output != "-") res.files.push_back(opt.output);
  } else if (npy) {
    // The labels and the metadata first: the features file is the one a reader looks for.
    const std::string lp = npy_labels_path(opt.output), mp = npy_meta_path(opt.output);
    io::write_file_atomically(lp, [&](io::AtomicFile& f) {
      f.write(io::npy_header({count}, "<i4"));
      f.write(labels.data(), labels.size() * sizeof(std::int32_t));
    });
    json_ordered meta;
    meta["features"] = fs::path(opt.output).filename().string();
    meta["labels"] = fs::path(lp).filename().string();
    meta["count"] = count;
    meta["shape"] = feat_shape;
    meta["model"] = absolute(model_path);
    meta["weights"] = absolute(weights);
    meta["layer"] = opt.layer;
    meta["pool"] = feature_pool_name(opt.pool);
    meta["data"] = opt.data;
    meta["classes"] = classes;
    meta["files"] = names;
    io::write_file_atomically(mp, meta.dump(2) + "\n");
    npy->commit();
    res.files = {opt.output, lp, mp};
  } else {
    csv->commit();
    res.files.push_back(opt.output);
  }
  return res;
}

}  // namespace cnn::train
