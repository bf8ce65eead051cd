// The contract every fuzz target checks: a parser given any bytes either succeeds or throws a
// cnn::Error (the programs turn those into one sentence and exit 2 or 3). Anything else -- a
// crash, a sanitizer report, another exception type ("internal error"), a hang, an allocation
// past libFuzzer's -malloc_limit_mb -- is a finding.
//
// Each target defines LLVMFuzzerTestOneInput and returns run(body). Built with
// -DCNN_FUZZ=ON (clang) it is a libFuzzer binary; otherwise replay_main.cpp makes it a program
// that runs the files named on its command line (tests/corpus/<target>/, replayed by ctest).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "layers/layer.hpp"
#include "model/model.hpp"
#include "tensor/budget.hpp"
#include "tensor/error.hpp"

namespace cnn::fuzz {

// A file holding the input, for parsers that read paths (one per process and suffix, rewritten
// on every call). suffix matters where the reader dispatches on it (".gz").
inline std::string as_file(const std::uint8_t* data, std::size_t size,
                           const std::string& suffix = "") {
  const char* dir = std::getenv("TMPDIR");
  const std::string path =
      std::string(dir && *dir ? dir : "/tmp") + "/cnn-fuzz-" + std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();
  return path;
}

// Inputs may declare sizes up to this budget (256 MiB), well inside libFuzzer's default
// -malloc_limit_mb of 2048: a declared size past it must be refused before it is allocated.
inline const bool kBudgetSet = (cnn::set_memory_budget(std::size_t{256} << 20), true);

// One forward pass of a batch of n zeros when the model is small (parameters and every layer's
// output together at most 4M values): the shapes a file declares meet real buffers.
inline void run_when_small(cnn::Model& m, std::size_t n) {
  std::size_t floats = cnn::numel(m.input_shape());
  for (std::size_t i = 0; i < m.size(); ++i) floats += cnn::numel(m.node(i).out_shape);
  if (floats + m.param_count() > (std::size_t{1} << 22)) return;
  cnn::Tensor x = xt::zeros<float>(cnn::batch_shape(n, m.input_shape()));
  cnn::Context ctx;
  m.forward(ctx, x);
}

// Runs body; a cnn::Error is the expected refusal of bad bytes (printed when CNN_FUZZ_SHOW is
// set, to see why an input is refused).
template <class F>
int run(F&& body) {
  static const bool show = std::getenv("CNN_FUZZ_SHOW") != nullptr;
  try {
    body();
    if (show) std::fprintf(stderr, "accepted\n");
  } catch (const cnn::Error& e) {
    if (show) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}

}  // namespace cnn::fuzz
