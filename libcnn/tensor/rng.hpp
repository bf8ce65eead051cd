// The one random number generator of libcnn (xoshiro256**), seeded from --seed; its state can be
// saved in checkpoints. Distributions are our own so results do not depend on the C++ library.
#pragma once

#include <array>
#include <cstdint>

namespace cnn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform();
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller on doubles).
  double normal();
  // Uniform integer in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n);

  std::array<std::uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<std::uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace cnn
