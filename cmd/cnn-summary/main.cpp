// cnn-summary: print a Keras-style summary of an architecture JSON file.
#include <iostream>

#include "common/run_main.hpp"
#include "io/architecture.hpp"
#include "io/weights.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "model/profile.hpp"
#include "model/summary.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Print a Keras-style summary of a model: layers, output shapes, parameter counts.\n\n"
      "Example:\n  cnn-summary configs/models/mnist_convnet.json\n"
      "  cnn-summary --json configs/models/resnet_small.json | jq .total_params\n"
      "  cnn-summary --time --batch-size 64 configs/models/mnist_convnet.json   # per-layer ms, "
      "GFLOP/s\n"
      "  cnn-summary --memory --batch-size 20 configs/models/vgg16_notop.json   # inference "
      "memory plan",
      "cnn-summary"};
  cnn::cmd::CommonOptions common;
  cnn::cmd::add_common_options(app, common);
  std::string model_path;
  bool show_trainable = false;
  std::string weights_path;
  app.add_option("model", model_path, "Architecture JSON file")->required();
  app.add_flag("--show-trainable", show_trainable, "Add a Trainable (Y/N) column");
  app.add_option("--weights", weights_path,
                 "Also check that a weights file (.safetensors) fits the architecture");
  bool time = false, inference = false;
  cnn::ProfileOptions profile;
  auto* time_opt = app.add_flag(
      "--time", time,
      "Profile instead: forward and backward ms and GFLOP/s per layer (random inputs)");
  app.add_option("--batch-size,--batch", profile.batch, "--time and --memory: batch size")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--iterations", profile.iterations, "--time: timed iterations (median)")
      ->check(cnn::cmd::at_least(1));
  app.add_option("--warmup", profile.warmup, "--time: untimed iterations first");
  app.add_flag("--inference", inference, "--time: inference forward only (no backward)");
  std::string precision = "fp32";
  app.add_option("--precision", precision,
                 "--time: the training step's matrix products, fp32 or bf16 (as cnn-train "
                 "--precision)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  bool memory = false;
  app.add_flag("--memory", memory,
               "Print the inference memory plan instead: per-layer output bytes, their places in "
               "one planned buffer, the peak (with --batch-size)")
      ->excludes(time_opt);
  return cnn::cmd::run_main(app, argc, argv, [&] {
    cnn::Model model = cnn::io::load_model(model_path);
    if (!weights_path.empty()) cnn::io::load_weights(model, weights_path);
    if (memory) {
      const auto plan = model.plan_inference_memory(profile.batch);
      if (common.json)
        std::cout << cnn::memory_json(model, plan).dump(2) << "\n";
      else
        std::cout << cnn::memory_text(model, plan);
      return 0;
    }
    if (time) {
      profile.backward = !inference;
      if (precision == "bf16" && inference)
        throw CLI::ValidationError(
            "--precision bf16 applies to training steps; drop --inference or the precision");
      const cnn::kernels::MatmulPrecisionScope scope(
          precision == "bf16" ? cnn::kernels::Precision::Bf16 : cnn::kernels::Precision::Fp32);
      cnn::Rng rng(common.seed);
      const auto p = cnn::profile_model(model, profile, rng);
      if (common.json)
        std::cout << cnn::profile_json(p).dump(2) << "\n";
      else
        std::cout << cnn::profile_text(p);
      return 0;
    }
    if (common.json)
      std::cout << cnn::summary_json(model).dump(2) << "\n";
    else
      std::cout << cnn::summary_text(model, {show_trainable});
    return 0;
  });
}
