// cnn-eval: loss, accuracy, confusion matrix and predictions of a trained model; a CI gate.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "common/data_flags.hpp"
#include "common/run_main.hpp"
#include "dist/comm.hpp"
#include "io/atomic_file.hpp"
#include "train/compare.hpp"
#include "train/evaluation.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Evaluate a trained model on a dataset (loss, accuracy, per-class precision/recall/F1,\n"
      "confusion matrix), or predict single images.\n\n"
      "Examples:\n"
      "  cnn-eval runs/fmnist --data fashion-mnist:test --min-accuracy 0.9\n"
      "  cnn-eval runs/cats --data ../shared/data/cats_and_dogs_filtered/validation --json\n"
      "  cnn-eval runs/cats --images photo1.jpg photo2.jpg        # CSV of predictions\n"
      "  cnn-eval --compare sweep/*                               # a sweep's runs side by side",
      "cnn-eval"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  std::string target, weights, predictions_path;
  std::optional<std::string> data, loss, classes;
  std::optional<double> min_accuracy;
  cnn::cmd::DataFlags data_flags;
  std::vector<std::string> images, compare;
  std::size_t batch_size = 32, top_k = 0;
  app.add_option("target", target, "A run directory (from cnn-train), or an architecture JSON");
  app.add_option("--compare", compare,
                 "Compare run directories instead (a sweep's): the recipe fields that differ, "
                 "final and best metrics, as a table (JSON with --json)")
      ->expected(1, -1);
  app.add_option("--weights", weights, "Weights (.safetensors); default: the run's");
  app.add_option("--data", data, "Dataset: fashion-mnist:test, mnist:test, DIR, DIR:test");
  app.add_option("--images", images,
                 "Images to predict: files, folders (every image under them) or quoted patterns; "
                 "prints a table on a terminal, else CSV (JSON with --json)");
  app.add_option("--top-k", top_k, "With --images: the K most probable classes of each image")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--predictions", predictions_path,
                 "Also write per-sample predictions to this file (.csv or .json)");
  app.add_option("--min-accuracy", min_accuracy, "Exit with 4 when accuracy is below this")
      ->check(cnn::cmd::at_least(0, 1));
  app.add_option("--batch-size", batch_size, "Batch size")->check(cnn::cmd::at_least(1));
  app.add_option("--loss", loss, "Loss (default: the run's)");
  data_flags.add_to(app, "Multiply pixel values by this (default: the model's own preprocessing)");
  app.add_option(
      "--classes", classes,
      "Class names, one per line in output order (default: the run's class_indices.json)");

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    namespace fs = std::filesystem;
    if (!compare.empty()) {
      if (!target.empty()) compare.insert(compare.begin(), target);
      const cnn::json rows = cnn::train::compare_runs(compare);
      std::cout << (common.json ? rows.dump() + "\n" : cnn::train::compare_table(rows));
      return cnn::cmd::kOk;
    }
    if (target.empty()) throw CLI::ValidationError("give a run directory (or --compare RUN...)");
    cnn::train::EvalOptions opt;
    if (fs::is_directory(target)) {
      opt.run_dir = target;
      opt.weights_path = weights;
    } else {
      if (weights.empty())
        throw CLI::ValidationError(
            "an architecture JSON needs --weights (or give a run directory)");
      opt.model_path = target;
      opt.weights_path = weights;
    }
    if (data && !images.empty()) throw CLI::ValidationError("give --data or --images, not both");
    if (min_accuracy && !data)
      throw CLI::ValidationError("--min-accuracy needs --data with labels");
    opt.data = data;
    opt.images = images;
    opt.loss = loss;
    opt.batch_size = batch_size;
    opt.threads = cnn::cmd::resolve_threads(common.threads);
    opt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    opt.predictions = !predictions_path.empty();
    opt.classes_file = classes;
    if (top_k && images.empty()) throw CLI::ValidationError("--top-k goes with --images");
    opt.top_k = top_k;
    const bool tty_err = !common.quiet && ::isatty(2) && cnn::dist::Comm::world().is_root();
    if (tty_err)
      opt.on_progress = [last = std::chrono::steady_clock::time_point{}](
                            std::size_t done, std::size_t total) mutable {
        const auto now = std::chrono::steady_clock::now();
        if (done < total && now - last < std::chrono::milliseconds(100)) return;
        last = now;
        const std::size_t width = 30, filled = total ? width * done / total : width;
        std::cerr << "\r" << done << "/" << total << " [" << std::string(filled, '=')
                  << std::string(width - filled, '.') << "]" << (done >= total ? "\r\033[K" : "")
                  << std::flush;
      };
    if (!common.quiet && cnn::dist::Comm::world().is_root())
      opt.log = [](const std::string& line) { std::cerr << "cnn-eval: " << line << "\n"; };
    data_flags.apply(opt.data_overrides);

    const auto rep = cnn::train::run_evaluation(opt);
    // Sharded over the processes of a job (mpirun): the first writes; all end with its code.
    if (!cnn::dist::Comm::world().is_root())
      return min_accuracy && rep.accuracy < *min_accuracy ? cnn::cmd::kGateFailed : cnn::cmd::kOk;
    if (!predictions_path.empty()) {
      const bool as_json = fs::path(predictions_path).extension() == ".json";
      cnn::train::EvalReport only = rep;
      cnn::io::write_file_atomically(
          predictions_path, as_json ? cnn::train::report_json(only)["predictions"].dump(2) + "\n"
                                    : cnn::train::predictions_csv(rep));
    }
    if (common.json) {
      auto j = cnn::train::report_json(rep);
      if (!predictions_path.empty()) j.erase("predictions");
      if (min_accuracy) {
        j["min_accuracy"] = *min_accuracy;
        j["passed"] = rep.accuracy >= *min_accuracy;
      }
      std::cout << j.dump() << "\n";
    } else if (!rep.has_labels && ::isatty(1)) {
      std::cout << cnn::train::predictions_table(rep);  // people read it; scripts get CSV
    } else {
      std::cout << cnn::train::report_text(rep);
    }
    if (min_accuracy && rep.accuracy < *min_accuracy) {
      if (!common.quiet)
        std::cerr << "cnn-eval: accuracy " << rep.accuracy << " is below --min-accuracy "
                  << *min_accuracy << "\n";
      return cnn::cmd::kGateFailed;
    }
    return cnn::cmd::kOk;
  });
}
