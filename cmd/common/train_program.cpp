#include "common/train_program.hpp"

#include <iostream>

namespace cnn::cmd {

int run_training_program(train::RunOptions& opt, Progress& progress, const CommonOptions& common,
                         const std::string& program) {
  opt.threads = resolve_threads(common.threads);
  opt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
  std::size_t epochs_total = 0;
  opt.log = [&](const std::string& line) { progress.info(line); };
  opt.on_step = [&](const train::StepProgress& p) {
    epochs_total = p.epochs;
    progress.step(p);
  };
  opt.on_epoch = [&](const train::EpochRecord& r) { progress.epoch(r, epochs_total); };
  opt.stop = stop_on_sigint();

  const auto result = train::run_training(opt);
  if (result.fit.interrupted)
    progress.info("interrupted: checkpoint written; continue with " + program + " --resume " +
                  result.run_dir);
  else
    progress.info("wrote " + result.run_dir);
  if (common.json) std::cout << training_result_json(result).dump() << "\n";
  return result.fit.interrupted ? kInterrupted : kOk;
}

}  // namespace cnn::cmd
