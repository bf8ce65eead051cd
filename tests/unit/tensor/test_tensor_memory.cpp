// Tensor memory: heap blocks and placed blocks (place_tensor) through every way xtensor moves,
// copies and resizes storage. Under AddressSanitizer (make test-sanitize) a placed block freed,
// or a heap block leaked or freed twice, fails the run.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "tensor/error.hpp"
#include "tensor/tensor.hpp"

using namespace cnn;

TEST_CASE("a placed tensor uses the caller's memory and never frees it") {
  TensorBuffer buf(24 * sizeof(float));
  const auto values = [&] { return reinterpret_cast<float*>(buf.data()); };
  {
    Tensor t(Shape{5, 5});  // heap memory of its own first, freed by place_tensor
    place_tensor(t, values(), {2, 3, 4});
    CHECK(t.data() == values());
    CHECK(shape_of(t) == Shape{2, 3, 4});
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<float>(i);
    CHECK(values()[23] == 23.0f);

    // Same size, another shape: the same memory.
    ensure_shape(t, {4, 6});
    CHECK(t.data() == values());

    // A copy owns its memory, with the values.
    Tensor c = t;
    CHECK(c.data() != values());
    CHECK(c.data()[23] == 23.0f);
    Tensor d;
    d = t;
    CHECK(d.data() != values());

    // Moved, the placed memory goes along; whoever holds it last does not free it.
    Tensor m = std::move(t);
    CHECK(m.data() == values());
    Tensor h(Shape{7});
    h = std::move(m);  // h's heap block is freed by the move's temporary
    CHECK(h.data() == values());
    std::swap(h, c);
    CHECK(c.data() == values());

    // Another size: heap memory of its own.
    ensure_shape(c, {100});
    CHECK(c.data() != values());
    c.fill(1.0f);
  }
  // Every tensor is gone and the buffer is intact (ASan: no free of it, no leak).
  CHECK(values()[5] == 5.0f);
}

TEST_CASE("tensor heap memory is 64-byte aligned, for any size and after resizes") {
  std::vector<Tensor> ts;
  for (std::size_t n : {0, 1, 3, 16, 17, 1000, 4097}) {
    ts.emplace_back(Shape{n});
    CHECK(reinterpret_cast<std::uintptr_t>(ts.back().data()) % 64 == 0);
    ensure_shape(ts.back(), {n + 5});
    CHECK(reinterpret_cast<std::uintptr_t>(ts.back().data()) % 64 == 0);
  }
  Tensor e = ts[3] + ts[3];  // an expression's result
  CHECK(reinterpret_cast<std::uintptr_t>(e.data()) % 64 == 0);
}

TEST_CASE("a TensorBuffer's memory lasts until its owner and every placed tensor are gone") {
  Tensor t;
  {
    auto buf = std::make_unique<TensorBuffer>(64 * sizeof(float));
    place_tensor(t, reinterpret_cast<float*>(buf->data()), {8, 8});
    t.fill(2.0f);
  }  // the owner is gone first: t still uses the memory
  CHECK(t(7, 7) == 2.0f);
  t = Tensor();  // now it is freed (AddressSanitizer: no leak, no use after free)
  CHECK(t.size() == 1);
  // A place outside every TensorBuffer is refused.
  std::vector<float> v(16);
  CHECK_THROWS_AS(place_tensor(t, v.data(), {4}), Error);
  TensorBuffer small(4 * sizeof(float));
  CHECK_THROWS_AS(place_tensor(t, reinterpret_cast<float*>(small.data()), {100}), Error);
}
