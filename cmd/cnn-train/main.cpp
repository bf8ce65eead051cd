// cnn-train: train a model on a dataset; writes a run directory (DESIGN.md).
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/progress.hpp"
#include "common/recipe_flags.hpp"
#include "common/run_main.hpp"
#include "common/train_program.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "train/run.hpp"

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
  std::optional<std::string> model, weights;
  cnn::cmd::RecipeFlags flags;  // every recipe field's flag; each applied only when given

  app.add_option("recipe", recipe_path, "Training recipe JSON (configs/train/*.json)");
  app.add_option("-o,--output", run_dir,
                 "Run directory to create (default: runs/<model file name without .json>)");
  app.add_option("--resume", resume_dir, "Continue the run in this directory from its checkpoint");
  app.add_flag("--overwrite", overwrite, "Reuse an output directory that already has files");
  app.add_option("--model", model, "Architecture JSON");
  app.add_option("--weights", weights, "Start from these weights (.safetensors); not a resume");
  flags.add_to(app);

  return cnn::cmd::run_main(app, argc, argv, [&] {
    namespace fs = std::filesystem;
    using cnn::json;
    cnn::train::RunOptions opt;
    if (!resume_dir.empty()) {
      std::vector<std::string> refused = cnn::cmd::RecipeFlags::names();
      for (const char* extra : {"--model", "--seed", "--output", "--overwrite"})
        refused.push_back(extra);
      for (const auto& flag : refused)
        if (app.count(flag))
          throw CLI::ValidationError(
              "--resume continues a run with its own recipe (train.json); "
              "it takes only --epochs and --threads, not " +
              flag);
      if (!recipe_path.empty())
        throw CLI::ValidationError("--resume takes no recipe file: the run has its train.json");
      if (weights)
        throw CLI::ValidationError("--resume and --weights are different operations; use one");
      opt.resume = true;
      opt.run_dir = resume_dir;
      if (const auto epochs = flags.epochs()) opt.resume_overrides["epochs"] = *epochs;
    } else {
      if (recipe_path.empty() && !model)
        throw CLI::ValidationError(
            "give a recipe (configs/train/*.json), --model, or --resume RUN");
      cnn::train::RecipeSources sources;
      if (!recipe_path.empty()) sources.file = recipe_path;
      sources.flags = flags.patch(app, common);
      if (model) sources.flags["model"] = fs::absolute(*model).string();
      if (weights) sources.flags["weights"] = fs::absolute(*weights).string();
      sources.assignments = flags.assignments();
      auto [recipe, recipe_file, base_dir] = cnn::train::resolve_recipe(sources);
      opt.recipe = recipe;
      opt.recipe_file = recipe_file;
      opt.base_dir = base_dir;
      if (run_dir.empty()) {
        std::string name = "run";
        if (recipe.contains("model") && recipe.at("model").is_string())
          name = fs::path(recipe.at("model").get<std::string>()).stem().string();
        run_dir = "runs/" + name;
      }
      opt.run_dir = run_dir;
      opt.overwrite = overwrite;
    }
    cnn::cmd::Progress progress(common.quiet);
    return cnn::cmd::run_training_program(opt, progress, common, "cnn-train");
  });
}
