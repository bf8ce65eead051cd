#include "common/train_program.hpp"

#include <cstdio>
#include <iostream>

#include "dist/comm.hpp"

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
  // Data-parallel: the first process reports for the job.
  const dist::Comm& comm = dist::Comm::world();
  if (!comm.is_root()) return result.fit.interrupted ? kInterrupted : kOk;
  if (result.fit.parallel_steps > 0) {
    char line[200];
    const double steps = double(result.fit.parallel_steps);
    std::snprintf(line, sizeof line,
                  "data-parallel over %d processes: %zu steps; the gradient sum took %.2f ms a "
                  "step during backward and %.2f ms after it",
                  comm.size(), result.fit.parallel_steps, 1e3 * result.fit.sum_overlap_s / steps,
                  1e3 * result.fit.sum_wait_s / steps);
    progress.info(line);
  }
  if (result.fit.interrupted)
    progress.info("interrupted: checkpoint written; continue with " + program + " --resume " +
                  result.run_dir);
  else
    progress.info("wrote " + result.run_dir);
  if (common.json) std::cout << training_result_json(result).dump() << "\n";
  return result.fit.interrupted ? kInterrupted : kOk;
}

}  // namespace cnn::cmd
