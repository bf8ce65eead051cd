// Pooling kernels: max with argmax and ties, average excluding padding, and both backward
// kernels as accumulating adjoints.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "kernels/pooling.hpp"

using namespace cnn::kernels;

namespace {
// 3x3 image, one channel, pool 2, stride 2, same padding (one padded row/column after).
PoolGeometry same_3x3() {
  PoolGeometry g;
  g.h = 3;
  g.w = 3;
  g.c = 1;
  g.ph = 2;
  g.pw = 2;
  g.stride_h = 2;
  g.stride_w = 2;
  g.out_h = 2;
  g.out_w = 2;
  return g;
}
}  // namespace

TEST_CASE("max_pool_forward keeps the first max and ignores padding") {
  const PoolGeometry g = same_3x3();
  const std::vector<float> in{7, 7, -1, 7, 0, -2, -3, -4, -5};
  std::vector<float> out(4);
  std::vector<std::uint32_t> cell(4);
  max_pool_forward(g, in.data(), out.data(), cell.data());
  CHECK(out == std::vector<float>{7, -1, -3, -5});
  // The first real cell of each clipped window (the tie 7, 7 keeps the first).
  CHECK(cell == std::vector<std::uint32_t>{0, 0, 0, 0});
  std::vector<float> dx(9, 1.0f);
  max_pool_backward_add(g, std::vector<float>{1, 2, 3, 4}.data(), cell.data(), dx.data());
  CHECK(dx == std::vector<float>{2, 1, 3, 1, 1, 1, 4, 1, 5});
  // Without argmax storage the values are the same.
  std::vector<float> out2(4);
  max_pool_forward(g, in.data(), out2.data(), nullptr);
  CHECK(out2 == out);
}

TEST_CASE("avg_pool divides by the real cells and backward adds") {
  const PoolGeometry g = same_3x3();
  const std::vector<float> in{1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> out(4);
  avg_pool_forward(g, in.data(), out.data());
  CHECK(out == std::vector<float>{3, 4.5f, 7.5f, 9});
  std::vector<float> dx(9, 1.0f);
  avg_pool_backward_add(g, std::vector<float>{4, 2, 2, 1}.data(), dx.data());
  CHECK(dx == std::vector<float>{2, 2, 2, 2, 2, 2, 2, 2, 2});
}
