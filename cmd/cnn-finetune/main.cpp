// cnn-finetune: load a pretrained base, cut it at a layer, add a head, freeze / unfreeze by layer
// name, and train with the cnn-train machinery; writes a run directory (DESIGN.md).
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/progress.hpp"
#include "common/recipe_flags.hpp"
#include "common/run_main.hpp"
#include "common/train_program.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "model/summary.hpp"
#include "train/finetune.hpp"
#include "train/run.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Fine-tune a pretrained model: cut it at a layer, add a new head, freeze or unfreeze layers\n"
      "by name, and train as cnn-train does (recipe, flags, --set); writes a run directory.\n\n"
      "Examples:\n"
      "  # Stage 1: the base frozen, a new head trained\n"
      "  cnn-finetune vgg16.json --weights vgg16.safetensors --freeze all \\\n"
      "      --head dense:256,dense:1:sigmoid --data cats/train --validation cats/validation \\\n"
      "      --rescale 0.00392156862745098 --epochs 10 -o runs/stage1\n"
      "  # Stage 2: the same model, block5 unfrozen, a small learning rate (recipe of stage 1)\n"
      "  cnn-finetune runs/stage1 --unfreeze-from block5_conv1 \\\n"
      "      --set optimizer.learning_rate=1e-5 -o runs/stage2\n"
      "  cnn-finetune vgg16.json --freeze all --head dense:256,dense:1:sigmoid --summary\n"
      "  cnn-finetune --resume runs/stage2 --epochs 20",
      "cnn-finetune"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  cnn::cmd::RecipeFlags flags;
  std::string base, recipe_path, run_dir, resume_dir;
  std::optional<std::string> weights, cut_at, head, pool, freeze, unfreeze_from;
  bool overwrite = false, summary = false, show_trainable = false;
  app.add_option("base", base,
                 "The pretrained model: an architecture JSON (with --weights), or "
                 "a run or import directory (model.json, weights.safetensors)");
  app.add_option("recipe", recipe_path,
                 "Training recipe JSON (its model and weights are "
                 "ignored); default: the base run's train.json");
  app.add_option("-o,--output", run_dir,
                 "Run directory to create (default: runs/<model "
                 "name>_finetune)");
  app.add_option("--resume", resume_dir, "Continue the run in this directory from its checkpoint");
  app.add_flag("--overwrite", overwrite, "Reuse an output directory that already has files");
  app.add_option("--weights", weights,
                 "The base's weights (.safetensors); default: the base "
                 "directory's weights.safetensors");
  app.add_option("--cut-at", cut_at, "Keep the base up to this layer (and what it reads)");
  app.add_option("--head", head,
                 "A new head: a JSON file of layers, or items such as "
                 "dense:256,dropout:0.5,dense:1:sigmoid");
  app.add_option("--pool", pool,
                 "First layer of the new head: flatten, avg, max or none "
                 "(default: flatten for an image-shaped base output)");
  app.add_option("--freeze", freeze, "all (every base layer frozen, the head trainable) or none");
  app.add_option("--unfreeze-from", unfreeze_from,
                 "Freeze the layers before this one, train it "
                 "and all after it");
  app.add_flag("--summary,--dry-run", summary, "Print the composed model's summary and exit");
  app.add_flag("--show-trainable", show_trainable, "With --summary: a Trainable (Y/N) column");
  flags.add_to(app);

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    namespace fs = std::filesystem;
    using cnn::json;
    cnn::train::RunOptions opt;
    cnn::cmd::Progress progress(common.quiet);
    if (!resume_dir.empty()) {
      std::vector<std::string> refused = cnn::cmd::RecipeFlags::names();
      for (const char* f : {"--seed", "--output", "--overwrite", "--weights", "--cut-at", "--head",
                            "--pool", "--freeze", "--unfreeze-from", "--summary"})
        refused.push_back(f);
      for (const auto& flag : refused)
        if (app.count(flag))
          throw CLI::ValidationError(
              "--resume continues a run with its own model and recipe; it "
              "takes only --epochs and --threads, not " +
              flag);
      if (!base.empty())
        throw CLI::ValidationError("--resume takes no base: the run has its model.json");
      opt.resume = true;
      opt.run_dir = resume_dir;
      if (const auto epochs = flags.epochs()) opt.resume_overrides["epochs"] = *epochs;
    } else {
      if (base.empty()) throw CLI::ValidationError("give a BASE model (or --resume RUN_DIR)");
      cnn::train::FinetuneSpec spec;
      spec.base = base;
      spec.weights = weights;
      spec.cut_at = cut_at;
      if (head) {
        // A head is a file when it names one (or ends in .json), else a list of items.
        if (fs::path(*head).extension() == ".json" || fs::is_regular_file(*head))
          spec.head_file = *head;
        else
          spec.head_spec = *head;
      }
      spec.pool = pool;
      spec.freeze = freeze;
      spec.unfreeze_from = unfreeze_from;
      const cnn::train::FinetuneModel fm = cnn::train::build_finetune_model(spec);
      if (summary) {
        if (common.json)
          std::cout << cnn::summary_json(fm.model).dump(2) << "\n";
        else
          std::cout << cnn::summary_text(fm.model, {show_trainable});
        return cnn::cmd::kOk;
      }
      if (!fm.base_weights)
        throw cnn::InputError(base,
                              "no weights for the base: give --weights W.safetensors (to "
                              "train from scratch, use cnn-train)");

      // The recipe: defaults, the base run's (or the given) recipe, flags, --set. The model is
      // the composed one, its weights the base's.
      cnn::train::RecipeSources sources;
      sources.file =
          !recipe_path.empty() ? std::optional<std::string>(recipe_path) : fm.base_recipe;
      sources.ignore_from_file = {"model", "weights"};
      sources.flags = flags.patch(app, common);
      sources.assignments = flags.assignments();
      auto [recipe, recipe_file, base_dir] = cnn::train::resolve_recipe(sources);
      opt.recipe_file = recipe_file;
      opt.base_dir = base_dir;
      if (run_dir.empty()) run_dir = "runs/" + fm.model.name() + "_finetune";
      recipe["model"] = fs::absolute(fs::path(run_dir) / "model.json").lexically_normal().string();
      recipe["weights"] = nullptr;
      opt.recipe = recipe;
      opt.run_dir = run_dir;
      opt.overwrite = overwrite;
      opt.model_arch = json::parse(fm.model.to_json().dump());
      opt.extra_files["finetune.json"] = fm.record.dump(2) + "\n";
      const std::string base_weights = *fm.base_weights;
      const std::set<std::string> required(fm.base_layers.begin(), fm.base_layers.end());
      opt.init_weights = [&progress, base_weights, required](cnn::Model& m) {
        const auto r = cnn::train::load_base_weights(m, base_weights, required);
        std::string line =
            "Loaded " + std::to_string(r.loaded.size()) + " tensors from " + base_weights;
        if (!r.initialised.empty()) {
          line += "; initialised " + std::to_string(r.initialised.size()) + " (";
          for (std::size_t i = 0; i < r.initialised.size(); ++i)
            line += (i ? ", " : "") + r.initialised[i];
          line += ")";
        }
        if (!r.unused.empty()) line += "; " + std::to_string(r.unused.size()) + " unused (cut off)";
        progress.info(line + ".");
      };
      progress.info("Model '" + fm.model.name() + "': " + std::to_string(fm.base_layers.size()) +
                    " base layers, " + std::to_string(fm.new_layers.size()) + " new; " +
                    cnn::with_thousands(fm.model.trainable_param_count()) + " of " +
                    cnn::with_thousands(fm.model.param_count()) + " parameters trainable.");
    }
    return cnn::cmd::run_training_program(opt, progress, common, "cnn-finetune");
  });
}
