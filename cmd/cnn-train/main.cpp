// cnn-train: train a model on a dataset; writes a run directory (DESIGN.md).
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/progress.hpp"
#include "common/run_main.hpp"
#include "io/atomic_file.hpp"
#include "train/run.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Train a model on a dataset and write a run directory (model.json, weights.safetensors,\n"
      "history.json/.csv, train.json, class_indices.json, checkpoint/).\n\n"
      "Examples:\n"
      "  cnn-train configs/train/mnist_convnet.json -o runs/mnist\n"
      "  cnn-train --model configs/models/mnist_convnet.json --data fashion-mnist:train \\\n"
      "            --validation fashion-mnist:test --epochs 5 --batch-size 64 -o runs/fmnist\n"
      "  cnn-train --resume runs/fmnist --epochs 10",
      "cnn-train"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);

  std::string recipe_path, run_dir, resume_dir;
  bool overwrite = false;
  std::vector<std::string> sets;
  // Flags that override recipe fields; each is applied only when given.
  std::optional<std::string> model, weights, data, validation, loss, optimizer, color_mode,
      class_mode, interpolation, on_bad_image, class_weight, schedule, early_stopping, augment;
  std::optional<double> validation_split, learning_rate, rescale, weight_decay;
  std::optional<std::size_t> epochs, batch_size, steps_per_epoch, validation_steps;
  std::vector<std::size_t> target_size;
  bool no_shuffle = false;

  app.add_option("recipe", recipe_path, "Training recipe JSON (configs/train/*.json)");
  app.add_option("-o,--output", run_dir, "Run directory to create (default: runs/<model name>)");
  app.add_option("--resume", resume_dir, "Continue the run in this directory from its checkpoint");
  app.add_flag("--overwrite", overwrite, "Reuse an output directory that already has files");
  app.add_option("--model", model, "Architecture JSON");
  app.add_option("--weights", weights, "Start from these weights (.safetensors); not a resume");
  app.add_option("--data", data, "Training data: fashion-mnist:train, mnist:train, DIR, DIR:train");
  app.add_option("--validation", validation, "Validation data (same forms as --data)");
  app.add_option("--validation-split", validation_split, "Hold out this fraction of --data");
  app.add_option("--epochs", epochs, "Epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "Batch size")->check(CLI::PositiveNumber);
  app.add_option("--steps-per-epoch", steps_per_epoch, "Batches per epoch")->check(CLI::PositiveNumber);
  app.add_option("--validation-steps", validation_steps, "Validation batches")->check(CLI::PositiveNumber);
  app.add_option("--optimizer", optimizer, "SGD, RMSprop or Adam (Keras defaults)");
  app.add_option("--learning-rate", learning_rate, "Learning rate")->check(CLI::NonNegativeNumber);
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
  app.add_option("--schedule", schedule, "Learning-rate schedule as JSON, e.g. "
                                         "'{\"type\": \"cosine\", \"decay_steps\": 1000}'");
  app.add_option("--early-stopping", early_stopping, "Early stopping as JSON, e.g. "
                                                     "'{\"patience\": 3}'");
  app.add_flag("--no-shuffle", no_shuffle, "Keep the dataset order");
  app.add_option("--augment", augment, "Augment the training data with these ImageDataGenerator "
                                       "settings (configs/augment/*.json)");
  app.add_option("--set", sets, "Set any recipe field: KEY=VALUE (e.g. data.rescale=0.5)");

  return cnn::cmd::run_main(app, argc, argv, [&] {
    namespace fs = std::filesystem;
    using cnn::json;
    cnn::train::RunOptions opt;
    auto as_json = [](const std::string& flag, const std::string& text) {
      try {
        return json::parse(text);
      } catch (const json::parse_error& e) {
        throw cnn::ConfigError(flag, "", "", std::string("not valid JSON: ") + e.what());
      }
    };
    if (!resume_dir.empty()) {
      for (const char* flag : {"--model", "--data", "--validation", "--validation-split",
                               "--batch-size", "--steps-per-epoch", "--validation-steps",
                               "--optimizer", "--learning-rate", "--loss", "--target-size",
                               "--color-mode", "--class-mode", "--interpolation", "--rescale",
                               "--on-bad-image", "--class-weight", "--weight-decay", "--schedule",
                               "--early-stopping", "--no-shuffle", "--augment", "--set", "--seed", "--output",
                               "--overwrite"})
        if (app.count(flag))
          throw CLI::ValidationError(std::string("--resume continues a run with its own recipe "
                                                 "(train.json); it takes only --epochs and "
                                                 "--threads, not ") + flag);
      if (!recipe_path.empty())
        throw CLI::ValidationError("--resume takes no recipe file: the run has its train.json");
      if (weights)
        throw CLI::ValidationError("--resume and --weights are different operations; use one");
      opt.resume = true;
      opt.run_dir = resume_dir;
      if (epochs) opt.resume_overrides["epochs"] = *epochs;
    } else {
      json recipe = cnn::train::default_recipe();
      opt.recipe_file = "<flags>";
      if (!recipe_path.empty()) {
        const std::string text = cnn::io::read_file(recipe_path);
        json file;
        try {
          file = json::parse(text);
        } catch (const json::parse_error& e) {
          throw cnn::ConfigError(recipe_path, "", "", std::string("not valid JSON: ") + e.what());
        }
        cnn::train::merge_into(recipe, file);
        opt.recipe_file = recipe_path;
        opt.base_dir = fs::path(recipe_path).parent_path().string();
      }
      json o = json::object();
      if (model) o["model"] = fs::absolute(*model).string();
      if (weights) o["weights"] = fs::absolute(*weights).string();
      if (data) o["data"]["train"] = *data;
      if (validation) o["data"]["validation"] = *validation;
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
      if (class_weight) o["class_weight"] = *class_weight == "auto" ? json("auto")
                                                                   : as_json("--class-weight", *class_weight);
      if (weight_decay) o["weight_decay"] = *weight_decay;
      if (schedule) o["schedule"] = as_json("--schedule", *schedule);
      if (early_stopping) o["early_stopping"] = as_json("--early-stopping", *early_stopping);
      if (no_shuffle) o["shuffle"] = false;
      if (augment) o["augment"] = fs::absolute(*augment).string();
      if (app.count("--seed")) o["seed"] = common.seed;
      cnn::train::merge_into(recipe, o);
      for (const auto& s : sets) cnn::train::apply_assignment(recipe, s);
      opt.recipe = recipe;
      if (run_dir.empty()) {
        std::string name = "run";
        if (recipe.contains("model") && recipe.at("model").is_string())
          name = fs::path(recipe.at("model").get<std::string>()).stem().string();
        run_dir = "runs/" + name;
      }
      opt.run_dir = run_dir;
      opt.overwrite = overwrite;
    }
    opt.threads = cnn::cmd::resolve_threads(common.threads);
    opt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    cnn::cmd::Progress progress(common.quiet);
    std::size_t epochs_total = 0;
    opt.log = [&](const std::string& line) { progress.info(line); };
    opt.on_step = [&](const cnn::train::StepProgress& p) {
      epochs_total = p.epochs;
      progress.step(p);
    };
    opt.on_epoch = [&](const cnn::train::EpochRecord& r) { progress.epoch(r, epochs_total); };
    opt.stop = &g_stop;
    std::signal(SIGINT, on_sigint);

    const auto result = cnn::train::run_training(opt);
    const auto& h = result.fit.history;
    if (result.fit.interrupted)
      progress.info("interrupted: checkpoint written; continue with cnn-train --resume " +
                    result.run_dir);
    else if (!common.quiet)
      progress.info("wrote " + result.run_dir);
    if (common.json) {
      cnn::json_ordered j;
      j["run_dir"] = result.run_dir;
      j["epochs"] = h.size();
      j["interrupted"] = result.fit.interrupted;
      if (!h.empty()) {
        const auto last = cnn::train::to_json(h.back());
        for (auto it = last.begin(); it != last.end(); ++it)
          if (it.key() != "epoch") j[it.key()] = it.value();
      }
      if (result.fit.stopped_early_at) j["stopped_early_at"] = *result.fit.stopped_early_at;
      if (result.fit.best_epoch) j["best_epoch"] = *result.fit.best_epoch;
      j["skipped_images"] = result.skipped_images;
      std::cout << j.dump() << "\n";
    }
    return result.fit.interrupted ? cnn::cmd::kInterrupted : cnn::cmd::kOk;
  });
}
