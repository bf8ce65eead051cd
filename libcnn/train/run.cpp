// run_training: recipe -> model + datasets -> run directory -> fit -> results.
#include "train/run.hpp"

#include <filesystem>
#include <optional>
#include <sstream>

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "dist/comm.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/dir_lock.hpp"
#include "io/weights.hpp"
#include "train/checkpoint.hpp"
#include "train/class_weight.hpp"
#include "train/run_dir.hpp"

namespace cnn::train {
namespace fs = std::filesystem;
data::DatasetOptions dataset_options(const DataRecipe& d, const Model& model, std::size_t threads,
                                     const std::string& mnist_dir) {
  data::DatasetOptions o;
  const Shape& in = model.input_shape();
  if (d.target_size) {
    o.target_h = static_cast<std::size_t>((*d.target_size)[0]);
    o.target_w = static_cast<std::size_t>((*d.target_size)[1]);
  } else if (in.size() == 3) {
    o.target_h = in[0];
    o.target_w = in[1];
  }
  const std::string color =
      d.color_mode ? *d.color_mode : (in.size() == 3 && in[2] == 1 ? "grayscale" : "rgb");
  o.color_mode = *data::parse_color_mode(color);
  const std::string mode =
      d.class_mode ? *d.class_mode : (model.output_shape() == Shape{1} ? "binary" : "sparse");
  o.class_mode = *data::parse_class_mode(mode);
  const auto& pre = model.preprocessing();
  std::string interpolation = "nearest";
  if (d.interpolation)
    interpolation = *d.interpolation;
  else if (pre && !pre->interpolation.empty())
    interpolation = pre->interpolation;
  o.interpolation = *data::parse_interpolation(interpolation);
  o.on_bad_image = *data::parse_bad_image_policy(d.on_bad_image);
  o.check = *data::parse_image_check(d.check);
  o.threads = std::max<std::size_t>(1, threads);
  o.classes = d.classes;
  if (pre) {
    o.rescale = 1.0f;  // the model scales raw pixels itself (Model::forward)
  } else if (d.rescale) {
    o.rescale = static_cast<float>(*d.rescale);
  }
  o.mnist_dir = mnist_dir;
  return o;
}

std::string default_loss(data::ClassMode mode) {
  switch (mode) {
    case data::ClassMode::binary:
      return "binary_crossentropy";
    case data::ClassMode::categorical:
      return "categorical_crossentropy";
    case data::ClassMode::sparse:
      break;
  }
  return "sparse_categorical_crossentropy";
}

void check_fit(const Model& model, const data::Dataset& ds, const std::string& spec) {
  if (ds.sample_shape() != model.input_shape())
    throw DataError(spec, "samples have shape " + shape_str(ds.sample_shape()) +
                              " but the model '" + model.name() + "' expects " +
                              shape_str(model.input_shape()) +
                              "; set data.target_size/color_mode or change input_shape");
  const std::size_t k = model.output_shape().empty() ? 0 : model.output_shape()[0];
  const std::size_t classes = ds.num_classes();
  if ((k == 1 && classes != 2) || (k > 1 && classes > k))
    throw DataError(spec, "has " + std::to_string(classes) + " classes but the model '" +
                              model.name() + "' has " + std::to_string(k) + " output" +
                              (k == 1 ? " (binary needs exactly 2 classes)" : "s"));
}

namespace {

// The settings that differ from ImageDataGenerator's defaults, as JSON (for the log).
std::string changed_settings(const data::AugmentSettings& s) {
  const json all = data::to_json(s), defaults = data::to_json(data::AugmentSettings{});
  json out = json::object();
  for (auto it = all.begin(); it != all.end(); ++it)
    if (!defaults.contains(it.key()) || defaults.at(it.key()) != *it) out[it.key()] = *it;
  return out.dump();
}

bool dir_has_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != io::DirLock::kName) return true;
  return false;
}

}  // namespace

void write_history(const std::string& run_dir, const std::vector<EpochRecord>& history) {
  json_ordered j = json_ordered::array();
  for (const auto& r : history) j.push_back(to_json(r));
  io::write_file_atomically(run_dir + "/history.json", j.dump(2) + "\n");
  // CSV: the union of the columns, in the JSON's order.
  std::vector<std::string> cols;
  for (const auto& row : j)
    for (auto it = row.begin(); it != row.end(); ++it)
      if (std::find(cols.begin(), cols.end(), it.key()) == cols.end()) cols.push_back(it.key());
  std::ostringstream csv;
  csv.precision(9);
  for (std::size_t c = 0; c < cols.size(); ++c) csv << (c ? "," : "") << cols[c];
  csv << "\n";
  for (const auto& row : j) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      if (c) csv << ",";
      if (row.contains(cols[c])) csv << row.at(cols[c]).get<double>();
    }
    csv << "\n";
  }
  io::write_file_atomically(run_dir + "/history.csv", csv.str());
}

namespace {

// The recipe a run trains: the resolved one, or on resume the run's train.json with the fields
// that may change (epochs) merged in.
struct RunRecipe {
  json resolved;
  std::string file;
  Recipe recipe;
};

RunRecipe read_run_recipe(const RunOptions& opt) {
  RunRecipe r{opt.recipe, opt.recipe_file, {}};
  std::string base_dir = opt.base_dir;
  if (opt.resume) {
    r.file = opt.run_dir + "/train.json";
    r.resolved = io::read_json(r.file);
    if (opt.resume_overrides.is_object()) merge_into(r.resolved, opt.resume_overrides);
    base_dir.clear();
  }
  r.recipe = parse_recipe(r.resolved, r.file, base_dir);
  if (opt.log)
    for (const auto& n : r.recipe.notes) opt.log("note: " + n);
  if (opt.resume) {
    const CheckpointProgress done = checkpoint_progress(opt.run_dir);
    if (done.epoch >= r.recipe.epochs)
      throw InputError(opt.run_dir, "the run has already trained " + std::to_string(done.epoch) +
                                        " of " + std::to_string(r.recipe.epochs) +
                                        " epochs; give --epochs " + std::to_string(done.epoch + 1) +
                                        " or more to train further");
  }
  return r;
}

// What the model expects as input travels with it (DESIGN.md): a new run of an image model
// records the data's preprocessing (rescale, the augmentation's rescale and featurewise
// statistics, interpolation) in its model.json; the model then scales raw pixels itself, in
// training and in every program that reads the run. Keras's per-sample normalisation
// (samplewise_*) cannot be part of the model: such runs keep the old way, with a warning.
struct PreprocessingPlan {
  std::optional<data::AugmentSettings> augment;
  bool samplewise = false;         // per-sample normalisation: the data, not the model, scales
  bool record = false;             // the model records (and applies) the preprocessing
  bool had_preprocessing = false;  // the model came with its own (an imported network)
};

PreprocessingPlan plan_preprocessing(Model& model, const Recipe& recipe, const RunOptions& opt) {
  PreprocessingPlan plan;
  if (!recipe.augment.is_null())
    plan.augment = data::parse_augment_settings(recipe.augment, recipe.augment_file);
  const auto& aug = plan.augment;
  plan.samplewise = aug && (aug->samplewise_center || aug->samplewise_std_normalization);
  plan.record = !opt.resume && !plan.samplewise && model.input_shape().size() == 3;
  plan.had_preprocessing = model.preprocessing().has_value();
  if (plan.record && plan.had_preprocessing) {
    // The model's own (an imported network's): the recipe may override its rescale.
    Preprocessing p = *model.preprocessing();
    if (recipe.data.rescale && static_cast<float>(*recipe.data.rescale) != p.rescale) {
      if (opt.log)
        opt.log("note: data.rescale " + std::to_string(*recipe.data.rescale) +
                " overrides the model's rescale " + std::to_string(p.rescale));
      p.rescale = static_cast<float>(*recipe.data.rescale);
    }
    if (recipe.data.interpolation) p.interpolation = *recipe.data.interpolation;
    if (aug && aug->rescale) p.rescale *= static_cast<float>(*aug->rescale);
    if (aug && aug->needs_featurewise_stats())
      throw ConfigError(recipe.augment_file, "/featurewise_center", "",
                        "the model '" + model.name() +
                            "' declares its own normalisation "
                            "(preprocessing); featurewise statistics would be applied twice");
    model.set_preprocessing(p);
  }
  if (plan.samplewise && opt.log && !opt.resume)
    opt.log(
        "warning: samplewise_center / samplewise_std_normalization normalise each sample "
        "in the training data only; the model does not record them, so cnn-eval --images "
        "and the other programs will not apply them");
  return plan;
}

struct RunData {
  data::DatasetOptions options;
  std::unique_ptr<data::Dataset> train, validation;
};

// The datasets, checked against the model before anything is written; the images they skip go
// into result.
RunData open_run_data(const Model& model, const Recipe& recipe, const PreprocessingPlan& plan,
                      const RunOptions& opt, RunResult& result) {
  RunData d;
  d.options = dataset_options(recipe.data, model, opt.threads, opt.mnist_dir);
  if (plan.record) d.options.rescale = 1.0f;  // raw pixels: the model will scale them
  data::DatasetOptions train_opt = d.options, val_opt = d.options;
  if (recipe.data.validation_split > 0) {
    train_opt.validation_split = val_opt.validation_split = recipe.data.validation_split;
    train_opt.subset = data::Subset::training;
    val_opt.subset = data::Subset::validation;
  }
  // An endless record stream is read for as many samples as training takes.
  if (recipe.steps_per_epoch) {
    train_opt.stream_limit = *recipe.steps_per_epoch * recipe.batch_size * recipe.epochs;
    train_opt.stream_epochs = recipe.epochs;
  }
  d.train = data::open_dataset(recipe.data.train, train_opt);
  if (d.train->size() == 0)
    throw DataError(recipe.data.train, "holds no training samples; there is nothing to train on");
  check_fit(model, *d.train, recipe.data.train);
  if (recipe.data.validation) {
    d.validation = data::open_dataset(*recipe.data.validation, val_opt);
    check_fit(model, *d.validation, *recipe.data.validation);
  } else if (recipe.data.validation_split > 0) {
    d.validation = data::open_dataset(recipe.data.train, val_opt);
  }
  if (opt.log) {
    opt.log("Found " + std::to_string(d.train->size()) + " training samples belonging to " +
            std::to_string(d.train->num_classes()) + " classes (" + recipe.data.train + ").");
    if (d.validation)
      opt.log("Found " + std::to_string(d.validation->size()) + " validation samples.");
    if (recipe.precision == kernels::Precision::Bf16) {
      const kernels::Isa isa = kernels::active_isa();
      opt.log(std::string("Mixed precision: the training steps' matrix products in bfloat16 (") +
              (kernels::native_bf16(isa)
                   ? "AVX512_BF16"
                   : "rounded operands on " + kernels::isa_name(isa) +
                         ": this CPU has no AVX512_BF16, so no faster than fp32") +
              "), weights, sums and evaluation in float.");
    }
  }
  result.train_samples = d.train->size();
  result.validation_samples = d.validation ? d.validation->size() : 0;
  for (const data::Dataset* ds : {d.train.get(), d.validation.get()})
    if (ds)
      for (const auto& s : ds->skipped()) {
        auto& list = result.skipped_images;
        if (std::find(list.begin(), list.end(), s.path) != list.end()) continue;
        list.push_back(s.path);
        if (opt.log) opt.log("skipped: " + s.reason);
      }
  return d;
}

// A new run's model records the training data's preprocessing (with Keras's featurewise
// statistics, ImageDataGenerator.fit, of the rescaled training data as its per-channel mean and
// std: (x - mean) / (std + 1e-6)).
void record_preprocessing(Model& model, const Recipe& recipe, const PreprocessingPlan& plan,
                          const data::Dataset& train, const RunOptions& opt) {
  if (!plan.record) return;
  const auto& aug = plan.augment;
  if (!plan.had_preprocessing) {
    Preprocessing p =
        data_preprocessing(recipe.data, train.default_rescale(), aug ? aug->rescale : std::nullopt);
    if (aug && aug->needs_featurewise_stats()) {
      const data::FeaturewiseStats st = data::fit_featurewise(train, p.rescale, opt.threads);
      const std::size_t c = model.input_shape().back();
      p.mean.assign(c, 0.0f);
      p.std.assign(c, 1.0f);
      for (std::size_t k = 0; k < c; ++k) {
        if (aug->featurewise_center) p.mean[k] = st.mean[k];
        if (aug->featurewise_std_normalization) p.std[k] = st.std[k] + 1e-6f;
      }
    }
    model.set_preprocessing(p);
  }
  if (opt.log) {
    const Preprocessing& p = *model.preprocessing();
    opt.log("The model records its input preprocessing: rescale " + std::to_string(p.rescale) +
            (p.mean.empty() ? "" : ", featurewise mean/std") + ", interpolation " +
            (p.interpolation.empty() ? std::string("nearest") : p.interpolation) + ".");
  }
}

// Augmentation (Keras ImageDataGenerator) of the training data only, drawn per sample from the
// Batcher's seeds, in the dataset's pixel units. When the model carries the preprocessing, the
// settings' rescale and featurewise statistics are in it, not here.
void augment_training_data(RunData& d, const Model& model, const Recipe& recipe,
                           const PreprocessingPlan& plan, const RunOptions& opt) {
  if (!plan.augment) return;
  data::AugmentSettings settings = *plan.augment;
  float scale = d.options.rescale.value_or(d.train->default_rescale());
  if (model.preprocessing() && !plan.samplewise) {
    settings.rescale.reset();
    settings.featurewise_center = settings.featurewise_std_normalization = false;
    scale = 1.0f;
  }
  d.train = std::make_unique<data::AugmentedDataset>(std::move(d.train), std::move(settings), scale,
                                                     opt.threads);
  if (opt.log)
    opt.log("Augmenting the training data (" + recipe.augment_file +
            "): " + changed_settings(*plan.augment) + ".");
}

TrainerOptions trainer_options(const Recipe& recipe, const RunData& d,
                               const std::string& recipe_file) {
  TrainerOptions t;
  t.loss = recipe.loss ? *recipe.loss : default_loss(d.options.class_mode);
  t.optimizer = recipe.optimizer;
  t.weight_decay = recipe.weight_decay;
  t.precision = recipe.precision;
  if (std::find(recipe.metrics.begin(), recipe.metrics.end(), "top_k_categorical_accuracy") !=
      recipe.metrics.end())
    t.top_k = recipe.top_k;
  if (!recipe.class_weight.is_null()) {
    std::vector<std::int32_t> labels(d.train->size());
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = d.train->label(i);
    t.class_weights = class_weights_from_json(recipe.class_weight, labels, d.train->num_classes(),
                                              recipe_file, "/class_weight");
  }
  return t;
}

FitOptions fit_options(const Recipe& recipe, const RunOptions& opt, const std::string& recipe_file,
                       std::size_t skipped_images) {
  FitOptions f;
  f.epochs = recipe.epochs;
  f.batch_size = recipe.batch_size;
  f.steps_per_epoch = recipe.steps_per_epoch;
  f.validation_steps = recipe.validation_steps;
  f.shuffle = recipe.shuffle;
  f.seed = recipe.seed;
  f.threads = opt.threads;
  f.skipped_images = skipped_images;
  f.schedule = recipe.schedule;
  f.early_stopping = recipe.early_stopping;
  f.recalibrate_bn = recipe.recalibrate_bn;
  f.sync_bn = recipe.sync_bn;
  f.recipe_file = recipe_file;
  f.run_dir = opt.run_dir;
  f.resume = opt.resume;
  f.stop = opt.stop;
  f.on_step = opt.on_step;
  f.on_epoch = [&opt](const std::vector<EpochRecord>& history) {
    if (dist::Comm::world().is_root()) write_history(opt.run_dir, history);
    if (opt.on_epoch) opt.on_epoch(history.back());
  };
  return f;
}

// The run directory, locked while this run writes it (a second writer is refused, exit 1).
// Returns whether this run created it.
bool claim_run_dir(const RunOptions& opt, std::optional<io::DirLock>& lock) {
  if (opt.resume) {
    if (!has_checkpoint(opt.run_dir))
      throw InputError(opt.run_dir, "no checkpoint to resume from (checkpoint/latest is missing)");
    lock.emplace(opt.run_dir);
    return false;
  }
  if (dir_has_files(opt.run_dir) && !opt.overwrite)
    throw InputError(opt.run_dir,
                     "the run directory already has files; choose another -o, "
                     "pass --overwrite, or --resume it");
  std::error_code ec;
  const bool created = !fs::exists(opt.run_dir, ec);
  fs::create_directories(opt.run_dir, ec);
  if (ec) throw IoError(opt.run_dir, "create directory", ec.message());
  lock.emplace(opt.run_dir);
  if (!created) fs::remove_all(fs::path(opt.run_dir) / "checkpoint", ec);
  io::check_writable_directory(opt.run_dir);
  return created;
}

// A new run's files before its first epoch: model.json, the extra files, train.json (paths made
// absolute, so the run's readers find them from any directory) and class_indices.json. A resume
// that changed fields rewrites train.json.
void write_run_files(const RunOptions& opt, const RunRecipe& r, const std::string& model_json,
                     const data::Dataset& train) {
  if (opt.resume) {
    if (!opt.resume_overrides.empty()) io::write_file_atomically(r.file, r.resolved.dump(2) + "\n");
    return;
  }
  io::write_file_atomically(opt.run_dir + "/model.json", model_json);
  for (const auto& [name, content] : opt.extra_files)
    io::write_file_atomically(opt.run_dir + "/" + name, content);
  const Recipe& recipe = r.recipe;
  json saved = r.resolved;
  saved["model"] = fs::absolute(recipe.model).lexically_normal().string();
  if (recipe.weights) saved["weights"] = fs::absolute(*recipe.weights).lexically_normal().string();
  saved["data"]["train"] = recipe.data.train;
  if (recipe.data.validation) saved["data"]["validation"] = *recipe.data.validation;
  if (!recipe.augment.is_null()) saved["augment"] = recipe.augment;
  io::write_file_atomically(opt.run_dir + "/train.json", saved.dump(2) + "\n");
  io::write_file_atomically(opt.run_dir + "/class_indices.json",
                            data::class_indices_json(train.class_names()).dump(2) + "\n");
}

}  // namespace

RunResult run_training(const RunOptions& opt) {
  RunResult result;
  result.run_dir = opt.run_dir;
  const RunRecipe r = read_run_recipe(opt);
  const Recipe& recipe = r.recipe;
  result.recipe = recipe;
  Model model = opt.resume       ? io::load_model(opt.run_dir + "/model.json")
                : opt.model_arch ? Model::from_json(*opt.model_arch, recipe.model)
                                 : io::load_model(recipe.model);

  const PreprocessingPlan plan = plan_preprocessing(model, recipe, opt);
  RunData data = open_run_data(model, recipe, plan, opt, result);
  record_preprocessing(model, recipe, plan, *data.train, opt);
  augment_training_data(data, model, recipe, plan, opt);

  // Initial weights: Keras initialisers from the seed, or a weights file.
  Rng init_rng(recipe.seed);
  model.init_params(init_rng);
  if (recipe.weights && !opt.resume) io::load_weights(model, *recipe.weights);
  if (opt.init_weights && !opt.resume) opt.init_weights(model);

  // Everything the recipe configures is checked before the run directory is touched: the
  // trainer (loss against the outputs, class weights) and the monitors of the callbacks.
  const std::string model_json = io::model_file_text(model);
  // Each process of a data-parallel job draws its own dropout masks: the first from the
  // one-process seed, the others from seeds of their own.
  const auto rank = static_cast<std::uint64_t>(dist::Comm::world().rank());
  Trainer trainer(model, trainer_options(recipe, data, r.file),
                  recipe.seed ^ 0x5eed0f0d0a0b5eedULL ^ (rank * 0x9e3779b97f4a7c15ULL));
  const FitOptions fopt = fit_options(recipe, opt, r.file, result.skipped_images.size());
  make_callbacks(fopt, trainer.optimizer().learning_rate(), data.validation != nullptr,
                 trainer.top_k() > 0);

  // Data-parallel (several processes): the first alone writes the run directory.
  const bool root = dist::Comm::world().is_root();
  std::optional<io::DirLock> lock;
  const bool created = root && claim_run_dir(opt, lock);
  try {
    if (root) write_run_files(opt, r, model_json, *data.train);
    result.fit = fit(model, trainer, *data.train, data.validation.get(), fopt);
  } catch (...) {
    if (created && !has_checkpoint(opt.run_dir)) {
      std::error_code ec;
      fs::remove_all(opt.run_dir, ec);
    }
    throw;
  }
  if (!root) return result;
  write_history(opt.run_dir, result.fit.history);
  if (!result.fit.interrupted) io::save_weights(model, opt.run_dir + "/weights.safetensors");
  return result;
}

}  // namespace cnn::train
