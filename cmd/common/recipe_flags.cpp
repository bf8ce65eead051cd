// Recipe flags: one table -> CLI11 options -> recipe fields.
#include "common/recipe_flags.hpp"

#include <filesystem>

#include "data/dataset.hpp"
#include "train/recipe.hpp"

namespace cnn::cmd {

const std::vector<RecipeFlag>& recipe_flags() {
  using K = FlagKind;
  static const std::vector<RecipeFlag> table = {
      {"--data", "SPEC", "data.train", K::Dataset,
       "Training data: fashion-mnist:train, mnist:train, DIR, FILE.cnnrec"},
      {"--validation", "SPEC", "data.validation", K::Dataset,
       "Validation data (same forms as --data)"},
      {"--validation-split", "F", "data.validation_split", K::Number,
       "Hold out this fraction of --data"},
      {"--epochs", "N", "epochs", K::Count, "Epochs"},
      {"--batch-size", "N", "batch_size", K::Count, "Batch size"},
      {"--steps-per-epoch", "N", "steps_per_epoch", K::Count, "Batches per epoch"},
      {"--validation-steps", "N", "validation_steps", K::Count, "Validation batches"},
      {"--optimizer", "TYPE", "optimizer.type", K::Text,
       "sgd, rmsprop or adam (any case, as Keras; Keras defaults)"},
      {"--learning-rate", "LR", "optimizer.learning_rate", K::NonNegative, "Learning rate"},
      {"--loss", "NAME", "loss", K::Text,
       "binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, mse"},
      {"--target-size", "H W", "data.target_size", K::Pair, "Resize images to H W"},
      {"--color-mode", "MODE", "data.color_mode", K::Text, "rgb or grayscale"},
      {"--class-mode", "MODE", "data.class_mode", K::Text, "binary, categorical or sparse"},
      {"--interpolation", "NAME", "data.interpolation", K::Text, "nearest or bilinear"},
      {"--rescale", "F", "data.rescale", K::Number,
       "Multiply pixel values by this (e.g. 0.00392156862745098)"},
      {"--on-bad-image", "POLICY", "data.on_bad_image", K::Text, "fail or skip"},
      {"--class-weight", "W", "class_weight", K::ClassWeight,
       "auto, or a JSON object/list of weights"},
      {"--weight-decay", "L", "weight_decay", K::Number, "L2 on kernels (Keras l2(lambda))"},
      {"--recalibrate-bn", "N", "recalibrate_bn", K::Size,
       "After each epoch, re-estimate BatchNormalization statistics over N batches"},
      {"--schedule", "JSON", "schedule", K::Json,
       "Learning-rate schedule as JSON, e.g. '{\"type\": \"cosine\", \"decay_steps\": 1000}'"},
      {"--early-stopping", "JSON", "early_stopping", K::Json,
       "Early stopping as JSON, e.g. '{\"patience\": 3}'"},
      {"--precision", "P", "precision", K::Text,
       "fp32, or bf16: mixed precision (bfloat16 products, float weights and sums)"},
      {"--no-shuffle", "", "shuffle", K::Off, "Keep the dataset order"},
      {"--sync-bn", "", "sync_bn", K::On,
       "Under mpirun: BatchNormalization statistics over the whole batch, not each process's "
       "part"},
      {"--augment", "FILE", "augment", K::Path,
       "Augment the training data with these ImageDataGenerator settings (configs/augment/*.json)"},
  };
  return table;
}

namespace {
// Whole numbers only: "2.5" epochs is refused, not cut to 2.
const CLI::TypeValidator<std::size_t> kWhole("UINT");
}  // namespace

void RecipeFlags::add_to(CLI::App& app) {
  for (const RecipeFlag& f : recipe_flags()) {
    if (f.kind == FlagKind::Off || f.kind == FlagKind::On) {
      app.add_flag(f.flag, switched_[f.flag], f.help);
      continue;
    }
    CLI::Option* o = app.add_option(f.flag, given_[f.flag], f.help)->type_name(f.value);
    switch (f.kind) {
      case FlagKind::Pair:
        o->expected(2)->check(kWhole);
        break;
      case FlagKind::Count:
        o->expected(1)->check(kWhole)->check(at_least(1));
        break;
      case FlagKind::Size:
        o->expected(1)->check(kWhole);
        break;
      case FlagKind::NonNegative:
        o->expected(1)->check(at_least(0));
        break;
      case FlagKind::Number:
        o->expected(1)->check(CLI::Number);
        break;
      default:
        o->expected(1);
    }
  }
  app.add_option("--set", sets_, "Set any recipe field: KEY=VALUE (e.g. data.rescale=0.5)");
}

const std::vector<std::string>& RecipeFlags::names() {
  static const std::vector<std::string> n = [] {
    std::vector<std::string> v;
    for (const RecipeFlag& f : recipe_flags())
      if (std::string(f.flag) != "--epochs") v.emplace_back(f.flag);
    v.emplace_back("--set");
    return v;
  }();
  return n;
}

std::optional<std::size_t> RecipeFlags::epochs() const {
  const auto it = given_.find("--epochs");
  if (it == given_.end() || it->second.empty()) return std::nullopt;
  return static_cast<std::size_t>(std::stoull(it->second.back()));
}

namespace {

// The recipe value of a flag's text (CLI11 has checked numbers and ranges).
json flag_value(const RecipeFlag& f, const std::vector<std::string>& text, const std::string& cwd) {
  const std::string& t = text.back();
  switch (f.kind) {
    case FlagKind::Dataset:
      // Paths on the command line are relative to the current directory (a recipe's to its
      // folder).
      return data::resolve_dataset_spec(t, cwd);
    case FlagKind::Path:
      return std::filesystem::absolute(t).string();
    case FlagKind::Number:
    case FlagKind::NonNegative:
      return std::stod(t);
    case FlagKind::Count:
    case FlagKind::Size:
      return static_cast<std::size_t>(std::stoull(t));
    case FlagKind::Pair:
      return json::array({std::stoull(text.at(text.size() - 2)), std::stoull(t)});
    case FlagKind::Json:
      return parse_json(t, f.flag);
    case FlagKind::ClassWeight:
      return t == "auto" ? json("auto") : parse_json(t, f.flag);
    case FlagKind::Off:
      return false;
    case FlagKind::On:
      return true;
    case FlagKind::Text:
      break;
  }
  return t;
}

}  // namespace

json RecipeFlags::patch(const CLI::App& app, const CommonOptions& common) const {
  json o = json::object();
  const std::string cwd = std::filesystem::current_path().string();
  for (const RecipeFlag& f : recipe_flags()) {
    std::string pointer = std::string("/") + f.field;
    for (char& c : pointer)
      if (c == '.') c = '/';
    if (f.kind == FlagKind::Off || f.kind == FlagKind::On) {
      if (switched_.at(f.flag)) o[json::json_pointer(pointer)] = f.kind == FlagKind::On;
      continue;
    }
    const std::vector<std::string>& text = given_.at(f.flag);
    if (app.count(f.flag)) o[json::json_pointer(pointer)] = flag_value(f, text, cwd);
  }
  if (app.count("--seed")) o["seed"] = common.seed;
  return o;
}

}  // namespace cnn::cmd
