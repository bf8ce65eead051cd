// cnn-eval --compare: several run directories side by side (a sweep's runs), from what each run
// recorded: history.json (the epochs' metrics) and train.json (the resolved recipe).
#pragma once

#include <string>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::train {

// One object per run, in the order given: "run" (the directory), "epochs", "final" (the last
// epoch's row: loss, accuracy, val_loss, val_accuracy, ... as history.json has them), "best"
// ({"val_accuracy": {"value", "epoch"}, "val_loss": {...}} for the columns the history has;
// accuracy and loss without validation), "seconds" (all epochs), and "recipe": the recipe fields
// (train.json flattened to dotted keys such as "optimizer.learning_rate") whose values differ
// between the runs -- what a sweep varied. Throws InputError for a run that is not a directory
// or has no history.json, and ConfigError for a history that is not a list of epoch objects.
json compare_runs(const std::vector<std::string>& runs);

// The comparison as a text table, one row per run: the varied recipe fields, epochs, the final
// and best metrics, and the seconds.
std::string compare_table(const json& rows);

}  // namespace cnn::train
