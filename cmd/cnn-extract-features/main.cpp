// cnn-extract-features: run a (pretrained) model up to a named layer over a dataset; writes
// features + labels as a record stream, .npy or CSV (DESIGN.md).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "common/data_flags.hpp"
#include "common/run_main.hpp"
#include "dist/comm.hpp"
#include "io/record_stream.hpp"
#include "train/extract.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Run a model up to a named layer over a dataset (in dataset order) and write the features\n"
      "and labels: a record stream (.cnnrec, or - for stdout) that cnn-train reads, .npy arrays\n"
      "(FILE.npy, FILE.labels.npy, FILE.meta.json) or CSV.\n\n"
      "Examples:\n"
      "  cnn-extract-features runs/squeezenet --layer fire9_concat --pool avg \\\n"
      "      --data ../shared/data/cats_and_dogs_filtered/train -o train.cnnrec\n"
      "  cnn-train --model head.json --data train.cnnrec --validation val.cnnrec -o runs/head\n"
      "  cnn-extract-features vgg16.json --weights vgg16.safetensors --layer block5_pool \\\n"
      "      --pool flatten --data photos/ -o feats.npy",
      "cnn-extract-features"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  std::string model, weights, layer, data, output, pool = "flatten";
  std::size_t batch_size = 32;
  cnn::cmd::DataFlags data_flags;
  app.add_option("model", model,
                 "An architecture JSON (with --weights), or a run or import "
                 "directory holding model.json and weights.safetensors")
      ->required();
  app.add_option("--weights", weights, "Weights (.safetensors); default: the directory's");
  app.add_option("--layer", layer, "The layer whose output is extracted")->required();
  app.add_option("--data", data,
                 "Dataset: an image folder, IDX (mnist:test, idx:IMG,LAB), a "
                 "record stream")
      ->required();
  app.add_option(
         "--pool", pool,
         "flatten (default, as cnn-finetune), none, avg (global average) or max (global max)")
      ->capture_default_str();
  app.add_option("-o,--output", output,
                 "FILE.cnnrec, FILE.npy, FILE.csv, or - (a record stream "
                 "on stdout)")
      ->required();
  app.add_option("--batch-size", batch_size, "Samples per forward pass")
      ->check(cnn::cmd::at_least(1))
      ->capture_default_str();
  data_flags.add_to(app);

  return cnn::cmd::run_main(app, argc, argv, [&]() -> int {
    cnn::train::ExtractOptions opt;
    const auto p = cnn::train::parse_feature_pool(pool);
    if (!p)
      throw CLI::ValidationError("--pool: expected none, flatten, avg or max, got '" + pool + "'");
    if (!cnn::train::feature_format(output))
      throw CLI::ValidationError(
          "-o: expected a name ending in .cnnrec, .npy or .csv, or - for "
          "a record stream on stdout, got '" +
          output + "'");
    if (output == "-" && common.json)
      throw CLI::ValidationError("-o - and --json would both write to stdout; use one");
    opt.model = model;
    opt.weights = weights;
    opt.layer = layer;
    opt.data = data;
    opt.pool = *p;
    opt.output = output;
    opt.batch_size = batch_size;
    opt.threads = cnn::cmd::resolve_threads(common.threads);
    opt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
    data_flags.apply(opt.data_overrides);

    // Sharded over the processes of a job (mpirun): the first writes and reports.
    const bool root = cnn::dist::Comm::world().is_root();
    if (!root) common.quiet = true, common.json = false;
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    auto last_draw = std::chrono::steady_clock::time_point{};
    opt.log = [&](const std::string& line) {
      if (!common.quiet) std::cerr << line << "\n";
    };
    opt.on_batch = [&](std::size_t done, std::size_t total, double secs) {
      if (common.quiet || !tty) return;
      const auto now = std::chrono::steady_clock::now();
      if (done != total && now - last_draw < std::chrono::milliseconds(100)) return;
      last_draw = now;
      const std::size_t width = 30, filled = total ? done * width / total : width;
      std::string bar(filled, '=');
      if (filled < width) bar += '>' + std::string(width - filled - 1, '.');
      const double eta = done ? secs / double(done) * double(total - done) : 0.0;
      char tail[64];
      std::snprintf(tail, sizeof tail, done < total ? "ETA: %.0fs" : "%.1fs",
                    done < total ? eta : secs);
      std::cerr << "\r" << done << "/" << total << " [" << bar << "] - " << tail << "\x1b[K"
                << std::flush;
    };
    opt.stop = cnn::cmd::stop_on_sigint();
    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe shows up as EPIPE: a clean end

    cnn::train::ExtractResult res;
    bool reader_closed = false;
    try {
      res = cnn::train::extract_features(opt);
    } catch (const cnn::io::BrokenPipe&) {
      // The other processes of a job wait for this one's part: the job ends as a failure.
      if (cnn::dist::Comm::world().parallel())
        throw cnn::Error("the reader of stdout closed the stream before every process's part");
      reader_closed = true;
    }
    if (!common.quiet && tty) std::cerr << "\r\x1b[K";
    if (res.interrupted) {
      if (!common.quiet) std::cerr << "interrupted: nothing was written\n";
      return cnn::cmd::kInterrupted;
    }
    const double rate = res.seconds > 0 ? static_cast<double>(res.count) / res.seconds : 0.0;
    if (!common.quiet) {
      char line[160];
      std::snprintf(line, sizeof line, "%zu samples in %.2f s (%.0f images/s)", res.count,
                    res.seconds, rate);
      std::string files;
      for (const auto& f : res.files) files += (files.empty() ? "; wrote " : ", ") + f;
      std::cerr << line << (reader_closed ? "; the reader closed the stream" : files) << "\n";
    }
    if (common.json) {
      cnn::json_ordered j;
      j["layer"] = res.layer;
      j["pool"] = cnn::train::feature_pool_name(*p);
      j["count"] = res.count;
      j["shape"] = res.shape;
      j["classes"] = res.classes;
      j["seconds"] = res.seconds;
      j["images_per_second"] = rate;
      j["files"] = res.files;
      std::cout << j.dump() << "\n";
    }
    return cnn::cmd::kOk;
  });
}
