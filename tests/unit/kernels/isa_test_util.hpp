// What the kernel tests share: every ISA variant to run (the scalar reference first), and the
// thread count put back when a test ends, even on failure.
#pragma once

#include <vector>

#include "kernels/dispatch.hpp"
#include "kernels/threading.hpp"

namespace cnn::test {

struct ThreadsGuard {
  ~ThreadsGuard() { kernels::set_num_threads(0); }
};

inline std::vector<kernels::Isa> reference_and_simd_isas() {
  std::vector<kernels::Isa> isas{kernels::Isa::Reference};
  for (kernels::Isa isa : kernels::supported_isas()) isas.push_back(isa);
  return isas;
}

}  // namespace cnn::test
