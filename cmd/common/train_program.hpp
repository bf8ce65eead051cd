// The training step shared by cnn-train and cnn-finetune once their options are resolved:
// progress on stderr, Ctrl-C handling, the run itself and the --json result.
#pragma once

#include <string>

#include "common/progress.hpp"
#include "common/run_main.hpp"
#include "train/run.hpp"

namespace cnn::cmd {

// Fills opt's threads, MNIST folder, progress callbacks and stop flag, runs the training and
// prints "wrote RUN_DIR" (or how to resume after Ctrl-C) on stderr and, with --json, the result
// on stdout. program names the resume command ("cnn-train"). Returns kOk or kInterrupted.
int run_training_program(train::RunOptions& opt, Progress& progress, const CommonOptions& common,
                         const std::string& program);

}  // namespace cnn::cmd
