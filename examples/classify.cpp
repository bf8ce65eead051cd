// classify MODEL_DIR IMAGE: the most probable class of one photo under a model directory (what
// cnn-train or cnn-import writes), through libcnn as an installed library. share/library.md
// walks through it; tests/cli/install.sh builds it against the installed package.
#include <cnn/tensor/error.hpp>
#include <cnn/train/evaluation.hpp>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: classify MODEL_DIR IMAGE\n";
    return 2;
  }
  try {
    cnn::train::EvalOptions options;
    options.run_dir = argv[1];   // model.json, weights.safetensors, class_indices.json
    options.images = {argv[2]};  // decoded and preprocessed as the model declares
    const cnn::train::EvalReport report = cnn::train::run_evaluation(options);
    const cnn::train::Prediction& best = report.predictions.at(0);
    std::cout << report.class_names.at(static_cast<std::size_t>(best.predicted)) << '\t'
              << best.probabilities.at(static_cast<std::size_t>(best.predicted)) << '\n';
  } catch (const cnn::Error& e) {  // one sentence naming the file: a missing model, a bad image
    std::cerr << "classify: " << e.what() << '\n';
    return 3;
  }
}
