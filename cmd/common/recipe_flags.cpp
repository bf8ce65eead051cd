// Recipe flags: CLI11 options -> recipe fields.
#include "common/recipe_flags.hpp"

#include <filesystem>

#include "data/dataset.hpp"
#include "train/recipe.hpp"

namespace cnn::cmd {

void RecipeFlags::add_to(CLI::App& app) {
  app.add_option("--data", data, "Training data: fashion-mnist:train, mnist:train, DIR, "
                                 "FILE.cnnrec");
  app.add_option("--validation", validation, "Validation data (same forms as --data)");
  app.add_option("--validation-split", validation_split, "Hold out this fraction of --data");
  app.add_option("--epochs", epochs, "Epochs")->check(cnn::cmd::at_least(1));
  app.add_option("--batch-size", batch_size, "Batch size")->check(cnn::cmd::at_least(1));
  app.add_option("--steps-per-epoch", steps_per_epoch, "Batches per epoch")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--validation-steps", validation_steps, "Validation batches")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--optimizer", optimizer, "sgd, rmsprop or adam (any case, as Keras; Keras defaults)");
  app.add_option("--learning-rate", learning_rate, "Learning rate")->check(cnn::cmd::at_least(0));
  app.add_option("--loss", loss, "binary_crossentropy, categorical_crossentropy, "
                                 "sparse_categorical_crossentropy, mse");
  app.add_option("--target-size", target_size, "Resize images to H W")->expected(2);
  app.add_option("--color-mode", color_mode, "rgb or grayscale");
  app.add_option("--class-mode", class_mode, "binary, categorical or sparse");
  app.add_option("--interpolation", interpolation, "nearest or bilinear");
  app.add_option("--rescale", rescale, "Multiply pixel values by this (e.g. 0.00392156862745098)");
  app.add_option("--on-bad-image", on_bad_image, "fail or skip");
  app.add_option("--class-weight", class_weight, "auto, or a JSON object/list of weights");
  app.add_option("--weight-decay", weight_decay, "L2 on kernels (Keras l2(lambda))");
  app.add_option("--recalibrate-bn", recalibrate_bn,
                 "After each epoch, re-estimate BatchNormalization statistics over N batches");
  app.add_option("--schedule", schedule, "Learning-rate schedule as JSON, e.g. "
                                         "'{\"type\": \"cosine\", \"decay_steps\": 1000}'");
  app.add_option("--early-stopping", early_stopping, "Early stopping as JSON, e.g. "
                                                     "'{\"patience\": 3}'");
  app.add_flag("--no-shuffle", no_shuffle, "Keep the dataset order");
  app.add_option("--augment", augment, "Augment the training data with these ImageDataGenerator "
                                       "settings (configs/augment/*.json)");
  app.add_option("--set", sets, "Set any recipe field: KEY=VALUE (e.g. data.rescale=0.5)");
}

const std::vector<std::string>& RecipeFlags::names() {
  static const std::vector<std::string> n{
      "--data", "--validation", "--validation-split", "--batch-size", "--steps-per-epoch",
      "--validation-steps", "--optimizer", "--learning-rate", "--loss", "--target-size",
      "--color-mode", "--class-mode", "--interpolation", "--rescale", "--on-bad-image",
      "--class-weight", "--weight-decay", "--recalibrate-bn", "--schedule", "--early-stopping", "--no-shuffle",
      "--augment", "--set"};
  return n;
}

void RecipeFlags::apply(json& recipe, const CLI::App& app, const CommonOptions& common,
                        const std::string& base_dir) const {
  auto as_json = [](const std::string& flag, const std::string& text) {
    return parse_json(text, flag);
  };
  json o = json::object();
  // Paths on the command line are relative to the current directory (a recipe's to its folder).
  const std::string cwd = std::filesystem::current_path().string();
  if (data) o["data"]["train"] = data::resolve_dataset_spec(*data, cwd);
  if (validation) o["data"]["validation"] = data::resolve_dataset_spec(*validation, cwd);
  if (validation_split) o["data"]["validation_split"] = *validation_split;
  if (!target_size.empty()) o["data"]["target_size"] = target_size;
  if (color_mode) o["data"]["color_mode"] = *color_mode;
  if (class_mode) o["data"]["class_mode"] = *class_mode;
  if (interpolation) o["data"]["interpolation"] = *interpolation;
  if (rescale) o["data"]["rescale"] = *rescale;
  if (on_bad_image) o["data"]["on_bad_image"] = *on_bad_image;
  if (epochs) o["epochs"] = *epochs;
  if (batch_size) o["batch_size"] = *batch_size;
  if (steps_per_epoch) o["steps_per_epoch"] = *steps_per_epoch;
  if (validation_steps) o["validation_steps"] = *validation_steps;
  if (loss) o["loss"] = *loss;
  if (optimizer) o["optimizer"]["type"] = *optimizer;
  if (learning_rate) o["optimizer"]["learning_rate"] = *learning_rate;
  if (class_weight)
    o["class_weight"] = *class_weight == "auto" ? json("auto") : as_json("--class-weight", *class_weight);
  if (weight_decay) o["weight_decay"] = *weight_decay;
  if (recalibrate_bn) o["recalibrate_bn"] = *recalibrate_bn;
  if (schedule) o["schedule"] = as_json("--schedule", *schedule);
  if (early_stopping) o["early_stopping"] = as_json("--early-stopping", *early_stopping);
  if (no_shuffle) o["shuffle"] = false;
  if (augment) o["augment"] = std::filesystem::absolute(*augment).string();
  if (app.count("--seed")) o["seed"] = common.seed;
  train::merge_into(recipe, o);
  for (const auto& s : sets) train::apply_assignment(recipe, s, base_dir);
}

}  // namespace cnn::cmd
