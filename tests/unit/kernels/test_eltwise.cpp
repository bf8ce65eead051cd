// The element-wise and max-pooling kernels of every ISA variant this machine runs against the
// scalar reference (kernels/ref), on sizes that exercise the vector tails (1, 7, 8, 9, 15, 16,
// 17, 127) and channel counts that are not multiples of any vector width (3, 13, 24).
//
// Exact equality where the vector code does the reference's operations in the reference's order
// (relu, linear, leaky_relu, every backward formula but tanh's, bias adds, row sums, max pooling
// and its argmax). Tolerance 1e-6 * max(1, |ref|) for sigmoid and tanh forward (xsimd's exp/tanh
// vs libm, a few ulp) and tanh backward (1 - y*y may be fused into one FMA; near |y| = 1 the
// cancellation turns that one rounding into an absolute, not a relative, error of ~eps * |dy|).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dispatch.hpp"
#include "kernels/eltwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/im2col.hpp"
#include "kernels/pooling.hpp"
#include "kernels/simd/eltwise_simd.hpp"
#include "kernels/window.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

namespace {

const std::size_t kSizes[] = {1, 7, 8, 9, 15, 16, 17, 127};

std::vector<Isa> isas() {
  std::vector<Isa> v{Isa::Reference};
  for (Isa i : supported_isas()) v.push_back(i);
  return v;
}

std::uint32_t bits_of(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

std::vector<float> random_vec(cnn::Rng& rng, std::size_t n, float lo = -3.0f, float hi = 3.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, bool exact) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (exact) {
      REQUIRE_MESSAGE(got[i] == want[i], "index " << i << ": " << got[i] << " vs " << want[i]);
    } else {
      REQUIRE_MESSAGE(std::fabs(got[i] - want[i]) <= 1e-6f * std::max(1.0f, std::fabs(want[i])),
                      "index " << i << ": " << got[i] << " vs " << want[i]);
    }
  }
}

}  // namespace

TEST_CASE("eltwise: activations of every ISA equal the reference on awkward sizes") {
  const auto& ref = simd::eltwise_for(Isa::Reference);
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (std::size_t ai = 0; ai < act_names().size(); ++ai) {
      const Act a = static_cast<Act>(ai);
      CAPTURE(act_name(a));
      const bool fwd_exact = a != Act::Sigmoid && a != Act::Tanh;
      const bool bwd_exact = a != Act::Tanh;
      for (std::size_t rows : {std::size_t{1}, std::size_t{3}}) {
        for (std::size_t cols : kSizes) {
          CAPTURE(rows);
          CAPTURE(cols);
          cnn::Rng rng(rows * 1000 + cols);
          const std::size_t n = rows * cols;
          auto x = random_vec(rng, n);
          x[0] = 0.0f;                    // the relu kink itself
          if (n > 2) x[n - 1] = -100.0f;  // sigmoid's far tail
          auto got = x, want = x;
          fns.act_forward(a, got.data(), rows, cols);
          ref.act_forward(a, want.data(), rows, cols);
          check_close(got, want, fwd_exact);

          const auto dy = random_vec(rng, n);
          std::vector<float> dz(n), dz_ref(n);
          fns.act_backward(a, want.data(), dy.data(), dz.data(), rows, cols);
          ref.act_backward(a, want.data(), dy.data(), dz_ref.data(), rows, cols);
          check_close(dz, dz_ref, bwd_exact);

          const auto bias = random_vec(rng, cols);
          auto b_got = x, b_want = x;
          fns.bias_act_forward(a, b_got.data(), bias.data(), rows, cols, cols);
          ref.bias_act_forward(a, b_want.data(), bias.data(), rows, cols, cols);
          check_close(b_got, b_want, fwd_exact);
          // Rows 3 floats apart more than cols (a slice of a Concatenate's rows): the same
          // values, and the floats between the rows untouched.
          for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {
            const std::size_t ld = cols + 3;
            std::vector<float> wide(rows * ld, 7.0f), slice(n);
            for (std::size_t r = 0; r < rows; ++r)
              std::copy(x.begin() + r * cols, x.begin() + (r + 1) * cols, wide.begin() + r * ld);
            fns.bias_act_forward(a, wide.data(), b, rows, cols, ld);
            for (std::size_t r = 0; r < rows; ++r)
              for (std::size_t j = 0; j < ld; ++j) {
                if (j < cols)
                  slice[r * cols + j] = wide[r * ld + j];
                else
                  REQUIRE(wide[r * ld + j] == 7.0f);
              }
            check_close(slice, b ? b_want : want, fwd_exact);
          }
          b_got = x;
          fns.bias_act_forward(a, b_got.data(), nullptr, rows, cols, cols);
          check_close(b_got, want, fwd_exact);
        }
      }
    }
  }
}

TEST_CASE("eltwise: sum_rows_add and add_to of every ISA equal the reference") {
  const auto& ref = simd::eltwise_for(Isa::Reference);
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (std::size_t rows : {std::size_t{1}, std::size_t{5}, std::size_t{127}})
      for (std::size_t cols : {1, 3, 7, 13, 16, 17, 24, 127}) {
        CAPTURE(rows);
        CAPTURE(cols);
        cnn::Rng rng(rows * 7 + cols);
        const auto x = random_vec(rng, rows * cols);
        const auto acc0 = random_vec(rng, cols);
        auto got = acc0, want = acc0;
        fns.sum_rows_add(x.data(), rows, cols, got.data());
        ref.sum_rows_add(x.data(), rows, cols, want.data());
        check_close(got, want, true);
        auto d_got = x, d_want = x;
        const auto src = random_vec(rng, rows * cols);
        fns.add_to(src.data(), src.size(), d_got.data());
        ref.add_to(src.data(), src.size(), d_want.data());
        check_close(d_got, d_want, true);
      }
  }
}

TEST_CASE("eltwise: max pooling of every ISA equals the reference, argmax and ties included") {
  struct Case {
    std::size_t h, w, c, ph, pw, sh, sw;
    bool same;
  };
  const Case cases[] = {
      {28, 28, 3, 2, 2, 2, 2, false},  {7, 9, 13, 2, 2, 2, 2, false},
      {7, 9, 24, 3, 3, 2, 2, true},    {5, 5, 17, 3, 3, 1, 1, true},
      {1, 1, 1, 1, 1, 1, 1, false},    {6, 4, 16, 6, 4, 1, 1, false},
      {15, 17, 127, 2, 3, 2, 1, true}, {9, 8, 32, 2, 2, 2, 2, false},
      {9, 8, 19, 9, 8, 1, 1, false},  // 72 cells: past the kernel's table of cell offsets
  };
  const auto& ref = simd::eltwise_for(Isa::Reference);
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (const auto& k : cases) {
      CAPTURE(k.h);
      CAPTURE(k.w);
      CAPTURE(k.c);
      CAPTURE(k.ph);
      CAPTURE(k.same);
      PoolGeometry g;
      g.h = k.h;
      g.w = k.w;
      g.c = k.c;
      g.ph = k.ph;
      g.pw = k.pw;
      g.stride_h = k.sh;
      g.stride_w = k.sw;
      if (k.same) {
        g.out_h = (k.h + k.sh - 1) / k.sh;
        g.out_w = (k.w + k.sw - 1) / k.sw;
        const std::size_t th = (g.out_h - 1) * k.sh + k.ph, tw = (g.out_w - 1) * k.sw + k.pw;
        g.pad_top = th > k.h ? (th - k.h) / 2 : 0;
        g.pad_left = tw > k.w ? (tw - k.w) / 2 : 0;
      } else {
        g.out_h = (k.h - k.ph) / k.sh + 1;
        g.out_w = (k.w - k.pw) / k.sw + 1;
      }
      cnn::Rng rng(k.h * 100 + k.c);
      auto in = random_vec(rng, g.in_size());
      // Ties: quantise half of the values to a few levels so windows often hold equal maxima.
      for (std::size_t i = 0; i < in.size(); i += 2) in[i] = std::round(in[i]);
      std::vector<float> out(g.out_size()), out_ref(g.out_size()), out_na(g.out_size());
      std::vector<std::uint32_t> am(g.out_size()), am_ref(g.out_size());
      fns.max_pool_forward(g, in.data(), out.data(), am.data());
      ref.max_pool_forward(g, in.data(), out_ref.data(), am_ref.data());
      check_close(out, out_ref, true);
      CHECK(am == am_ref);
      fns.max_pool_forward(g, in.data(), out_na.data(), nullptr);
      check_close(out_na, out_ref, true);
      const auto dy = random_vec(rng, g.out_size());
      auto dx = random_vec(rng, g.in_size()), dx_ref = dx;
      fns.max_pool_backward_add(g, dy.data(), am.data(), dx.data());
      ref.max_pool_backward_add(g, dy.data(), am_ref.data(), dx_ref.data());
      check_close(dx, dx_ref, true);
      if (pool_windows_disjoint(g)) {
        // Written instead of added: bitwise zeros + the add, in the windows' cells (a -0.0
        // gradient comes out +0.0 either way); the cells of no window are left alone.
        auto dy0 = dy;
        dy0[0] = -0.0f;
        std::vector<float> added(g.in_size(), 0.0f), set(g.in_size(), 7.0f);
        ref.max_pool_backward_add(g, dy0.data(), am_ref.data(), added.data());
        fns.max_pool_backward_set(g, dy0.data(), am.data(), set.data());
        std::vector<bool> in_window(g.in_size(), false);
        for (std::size_t i = 0; i < set.size(); ++i)
          if (set[i] != 7.0f) in_window[i] = true;
        for (std::size_t i = 0; i < set.size(); ++i)
          if (in_window[i])
            REQUIRE_MESSAGE(std::memcmp(&set[i], &added[i], sizeof(float)) == 0,
                            "cell " << i << ": " << set[i] << " vs " << added[i]);
          else
            REQUIRE(added[i] == 0.0f);
        CHECK(std::count(in_window.begin(), in_window.end(), true) >=
              static_cast<std::ptrdiff_t>(g.out_size()));
      } else {
        std::vector<float> set(g.in_size());
        CHECK_THROWS_AS(max_pool_backward_set(g, dy.data(), am.data(), set.data()), cnn::Error);
      }
    }
  }
}

TEST_CASE("eltwise: im2col and col2im_add of every ISA equal the reference exactly") {
  struct Case {
    std::size_t h, w, c, kh, kw, sh, sw, dh, dw;
    Padding pad;
  };
  const Case cases[] = {
      {28, 28, 1, 3, 3, 1, 1, 1, 1, Padding::Valid}, {7, 15, 3, 5, 5, 1, 1, 1, 1, Padding::Same},
      {16, 17, 13, 3, 3, 2, 2, 1, 1, Padding::Same}, {1, 1, 24, 1, 1, 1, 1, 1, 1, Padding::Valid},
      {9, 7, 24, 1, 1, 2, 2, 1, 1, Padding::Same},   {11, 9, 3, 3, 2, 1, 1, 2, 2, Padding::Same},
      {5, 127, 1, 3, 5, 2, 1, 1, 1, Padding::Valid}, {4, 4, 17, 5, 5, 1, 1, 1, 1, Padding::Same},
  };
  const auto& ref = simd::eltwise_for(Isa::Reference);
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (const auto& t : cases) {
      CAPTURE(t.h);
      CAPTURE(t.w);
      CAPTURE(t.c);
      CAPTURE(t.kh);
      const auto geo = conv_geometry(t.h, t.w, t.c, t.kh, t.kw, t.sh, t.sw, t.dh, t.dw, t.pad);
      REQUIRE(geo.has_value());
      const ConvGeometry g = *geo;
      cnn::Rng rng(t.h * 31 + t.c);
      const auto in = random_vec(rng, t.h * t.w * t.c);
      std::vector<float> col(g.col_rows() * g.col_cols(), -7.0f), col_ref(col.size(), 7.0f);
      fns.im2col(g, in.data(), col.data());
      ref.im2col(g, in.data(), col_ref.data());
      check_close(col, col_ref, true);
      const auto dcol = random_vec(rng, col.size());
      auto img = random_vec(rng, in.size()), img_ref = img;
      fns.col2im_add(g, dcol.data(), img.data());
      ref.col2im_add(g, dcol.data(), img_ref.data());
      check_close(img, img_ref, true);
    }
  }
}

TEST_CASE(
    "eltwise: small-k forward and weight gradient of every ISA equal a double-precision sum") {
  // Different ISAs sum the same terms in the same order but may fuse multiply-adds, so each
  // result is checked against the sum in double: |got - exact| <= 4e-6 * (sum of |terms|), a
  // bound on float rounding over at most a few hundred terms that a wrong term or a missed row
  // breaks by orders of magnitude. Rows, taps and filters hit every vector tail.
  const std::size_t rows_list[] = {1, 7, 17, 127, 300};
  const std::size_t k_list[] = {1, 9, 27, 32};
  const std::size_t f_list[] = {1, 3, 16, 17, 32, 33, 64, 70};
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (std::size_t rows : rows_list)
      for (std::size_t k : k_list)
        for (std::size_t f : f_list)
          for (Act act : {Act::Linear, Act::Relu}) {
            CAPTURE(rows);
            CAPTURE(k);
            CAPTURE(f);
            CAPTURE(act_name(act));
            cnn::Rng rng(rows * 1000 + k * 10 + f);
            const auto a = random_vec(rng, rows * k), b = random_vec(rng, k * f),
                       bias = random_vec(rng, f);
            const bool with_bias = f % 2 == 1;
            std::vector<float> y(rows * f);
            fns.small_k_forward(act, a.data(), b.data(), with_bias ? bias.data() : nullptr, rows, k,
                                f, y.data(), f);
            {  // rows 5 floats apart more than f: the same values, the floats between untouched
              const std::size_t ld = f + 5;
              std::vector<float> wide(rows * ld, 7.0f);
              fns.small_k_forward(act, a.data(), b.data(), with_bias ? bias.data() : nullptr, rows,
                                  k, f, wide.data(), ld);
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < ld; ++j)
                  REQUIRE(wide[r * ld + j] == (j < f ? y[r * f + j] : 7.0f));
            }
            for (std::size_t r = 0; r < rows; ++r)
              for (std::size_t j = 0; j < f; ++j) {
                double s = with_bias ? bias[j] : 0.0, mag = std::fabs(s);
                for (std::size_t t = 0; t < k; ++t) {
                  s += double(a[r * k + t]) * b[t * f + j];
                  mag += std::fabs(double(a[r * k + t]) * b[t * f + j]);
                }
                if (act == Act::Relu && s <= 0.0) s = 0.0;
                REQUIRE(std::fabs(y[r * f + j] - s) <= 4e-6 * mag);
              }
            // The gradient: on the fly from (y, dy), and from dz given (y nullptr); both add to
            // what db and dbias held.
            const auto dy = random_vec(rng, rows * f);
            const auto db0 = random_vec(rng, k * f), dbias0 = random_vec(rng, f);
            for (bool given_dz : {false, true}) {
              CAPTURE(given_dz);
              std::vector<float> dz(rows * f);
              for (std::size_t i = 0; i < dz.size(); ++i)
                dz[i] = act == Act::Relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
              auto db = db0, dbias = dbias0;
              fns.small_k_weight_grad(given_dz ? Act::Linear : act, a.data(),
                                      given_dz ? nullptr : y.data(),
                                      given_dz ? dz.data() : dy.data(), rows, k, f, db.data(),
                                      with_bias ? dbias.data() : nullptr);
              for (std::size_t t = 0; t < k; ++t)
                for (std::size_t j = 0; j < f; ++j) {
                  double s = db0[t * f + j], mag = std::fabs(s);
                  for (std::size_t r = 0; r < rows; ++r) {
                    s += double(a[r * k + t]) * dz[r * f + j];
                    mag += std::fabs(double(a[r * k + t]) * dz[r * f + j]);
                  }
                  REQUIRE(std::fabs(db[t * f + j] - s) <= 4e-6 * mag);
                }
              for (std::size_t j = 0; j < f; ++j) {
                double s = dbias0[j], mag = std::fabs(s);
                for (std::size_t r = 0; r < rows; ++r) {
                  s += dz[r * f + j];
                  mag += std::fabs(dz[r * f + j]);
                }
                if (with_bias)
                  REQUIRE(std::fabs(dbias[j] - s) <= 4e-6 * mag);
                else
                  REQUIRE(dbias[j] == dbias0[j]);
              }
            }
          }
  }
}

TEST_CASE(
    "eltwise: small-k convolution and its weight gradient in place are bitwise im2col + small-k, "
    "every ISA") {
  // Windows inside the input are read where they lie, windows in the padding are copied first;
  // both must give each ISA's own im2col + small_k_forward exactly (the same sums in the same
  // order). Geometries: strides, both paddings with odd offsets, dilation on either axis, k = 4
  // to 32, inputs narrower than the kernel with padding; pixel ranges that start and end
  // mid-row and cross rows; a wider ldy; fused and unfused activations.
  struct Case {
    std::size_t h, w, c, kh, kw, sh, sw, dh, dw;
    Padding pad;
  };
  const Case cases[] = {
      {28, 28, 1, 3, 3, 1, 1, 1, 1, Padding::Valid},  // the lecture's MNIST first layer
      {23, 21, 3, 3, 3, 2, 2, 1, 1, Padding::Valid},  // SqueezeNet's conv1, smaller
      {12, 13, 3, 3, 3, 1, 1, 1, 1, Padding::Same},   // VGG16's block1_conv1, smaller
      {11, 9, 3, 3, 3, 2, 1, 1, 1, Padding::Same},   {9, 10, 1, 5, 5, 2, 3, 1, 1, Padding::Same},
      {10, 12, 2, 3, 3, 1, 1, 2, 1, Padding::Same},  {10, 12, 2, 3, 3, 1, 1, 1, 2, Padding::Same},
      {2, 2, 3, 3, 3, 1, 1, 1, 1, Padding::Same},    {7, 8, 8, 2, 2, 2, 2, 1, 1, Padding::Valid},
      {6, 7, 4, 1, 1, 1, 1, 1, 1, Padding::Valid},   {5, 6, 2, 3, 1, 1, 1, 1, 1, Padding::Same}};
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (const Case& cs : cases) {
      const auto g =
          conv_geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.sh, cs.sw, cs.dh, cs.dw, cs.pad);
      REQUIRE(g);
      const std::size_t m = g->col_rows(), k = g->col_cols();
      CAPTURE(cs.h);
      CAPTURE(cs.w);
      CAPTURE(k);
      cnn::Rng rng(m * 100 + k);
      const auto x = random_vec(rng, cs.h * cs.w * cs.c);
      std::vector<float> col(m * k);
      fns.im2col(*g, x.data(), col.data());
      for (std::size_t f : {3, 16, 33, 64, 128})
        for (Act act : {Act::Relu, Act::Linear, Act::Sigmoid}) {
          CAPTURE(f);
          CAPTURE(act_name(act));
          const auto b = random_vec(rng, k * f), bias = random_vec(rng, f);
          const std::size_t ldy = f + (f % 2) * 3;
          const std::size_t p0 = std::min<std::size_t>(m - 1, g->out_w / 2 + 1);
          for (const auto& range : {std::pair{std::size_t{0}, m}, std::pair{p0, m - p0},
                                    std::pair{std::size_t{1}, std::min<std::size_t>(m - 1, 5)}}) {
            const std::size_t from = range.first, count = range.second;
            CAPTURE(from);
            CAPTURE(count);
            std::vector<float> want(count * ldy, 7.0f), got(count * ldy, 7.0f);
            fns.small_k_forward(act, col.data() + from * k, b.data(), bias.data(), count, k, f,
                                want.data(), ldy);
            fns.small_k_conv(act, *g, x.data(), b.data(), bias.data(), from, count, f, got.data(),
                             ldy);
            for (std::size_t i = 0; i < got.size(); ++i)
              REQUIRE_MESSAGE(got[i] == want[i],
                              "index " << i << ": " << got[i] << " vs " << want[i]);
            if (act == Act::Sigmoid) continue;
            // The weight and bias gradients of the same rows, added to what db and dbias held:
            // dz on the fly from (y, dy), and dz given.
            const auto dy = random_vec(rng, count * f), db0 = random_vec(rng, k * f);
            std::vector<float> yp(count * f);
            for (std::size_t r = 0; r < count; ++r)
              std::copy_n(want.data() + r * ldy, f, yp.data() + r * f);
            for (bool given_dz : {false, true}) {
              CAPTURE(given_dz);
              auto db_want = db0, db_got = db0, dbias_want = bias, dbias_got = bias;
              const float* yy = given_dz ? nullptr : yp.data();
              fns.small_k_weight_grad(act, col.data() + from * k, yy, dy.data(), count, k, f,
                                      db_want.data(), dbias_want.data());
              fns.small_k_conv_weight_grad(act, *g, x.data(), yy, dy.data(), from, count, f,
                                           db_got.data(), dbias_got.data());
              REQUIRE(db_got == db_want);
              REQUIRE(dbias_got == dbias_want);
            }
          }
        }
    }
  }
}

TEST_CASE("small_k_conv_pool2 of every ISA: its small_k_conv then max_pool_forward, bitwise") {
  // The lecture's MNIST and cats-vs-dogs first layers (smaller), odd output sizes (the last row
  // and column dropped), strides, 2x2 kernels on 4 channels; filters in whole vectors, in
  // vectors and a tail, and fewer than one vector; relu and linear; bands of pooled rows and
  // pixels wider than the filters. Also what it refuses.
  struct Case {
    std::size_t h, w, c, kh, kw, sh, sw;
  };
  const Case cases[] = {{28, 28, 1, 3, 3, 1, 1},
                        {20, 19, 3, 3, 3, 1, 1},
                        {23, 22, 3, 3, 3, 2, 2},
                        {9, 14, 4, 2, 2, 1, 2},
                        {5, 5, 1, 3, 3, 1, 1}};
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (const Case& cs : cases) {
      const auto g =
          conv_geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.sh, cs.sw, 1, 1, Padding::Valid);
      REQUIRE(g);
      CAPTURE(cs.h);
      CAPTURE(cs.c);
      CAPTURE(cs.sh);
      const std::size_t m = g->col_rows(), k = g->col_cols(), ph = g->out_h / 2, pw = g->out_w / 2;
      REQUIRE(small_k_pool2_fits(Act::Relu, *g));
      cnn::Rng rng(m * 10 + k);
      const auto x = random_vec(rng, cs.h * cs.w * cs.c);
      for (std::size_t f : {5, 16, 20, 32, 64})
        for (Act act : {Act::Relu, Act::Linear}) {
          CAPTURE(f);
          CAPTURE(act_name(act));
          const auto b = random_vec(rng, k * f), bias = random_vec(rng, f);
          std::vector<float> conv(m * f), want(ph * pw * f);
          fns.small_k_conv(act, *g, x.data(), b.data(), bias.data(), 0, m, f, conv.data(), f);
          PoolGeometry pg;
          pg.h = g->out_h;
          pg.w = g->out_w;
          pg.c = f;
          pg.ph = pg.pw = pg.stride_h = pg.stride_w = 2;
          pg.out_h = ph;
          pg.out_w = pw;
          fns.max_pool_forward(pg, conv.data(), want.data(), nullptr);
          for (std::size_t band : {std::size_t{1}, std::size_t{2}, ph}) {
            CAPTURE(band);
            const std::size_t ldy = band == 2 ? f + 3 : f;
            std::vector<float> got(ph * pw * ldy, 7.0f);
            for (std::size_t py = 0; py < ph; py += band)
              fns.small_k_conv_pool2(act, *g, x.data(), b.data(), bias.data(), py,
                                     std::min(ph, py + band), f, got.data() + py * pw * ldy, ldy);
            for (std::size_t p = 0; p < ph * pw; ++p)
              for (std::size_t j = 0; j < f; ++j)
                REQUIRE_MESSAGE(bits_of(got[p * ldy + j]) == bits_of(want[p * f + j]),
                                "pixel " << p << " filter " << j << ": " << got[p * ldy + j]
                                         << " vs " << want[p * f + j]);
          }
        }
    }
  }
  const auto same = conv_geometry(8, 8, 1, 3, 3, 1, 1, 1, 1, Padding::Same);
  const auto dilated = conv_geometry(8, 8, 1, 3, 3, 1, 1, 2, 2, Padding::Valid);
  const auto wide = conv_geometry(8, 8, 4, 3, 3, 1, 1, 1, 1, Padding::Valid);  // k = 36
  const auto fine = conv_geometry(8, 8, 1, 3, 3, 1, 1, 1, 1, Padding::Valid);
  CHECK_FALSE(small_k_pool2_fits(Act::Relu, *same));
  CHECK_FALSE(small_k_pool2_fits(Act::Relu, *dilated));
  CHECK_FALSE(small_k_pool2_fits(Act::Relu, *wide));
  CHECK_FALSE(small_k_pool2_fits(Act::Sigmoid, *fine));
  std::vector<float> y(64);
  CHECK_THROWS_AS(
      small_k_conv_pool2(Act::Relu, *same, y.data(), y.data(), nullptr, 0, 1, 1, y.data()),
      cnn::Error);
  CHECK_THROWS_AS(
      small_k_conv_pool2(Act::Relu, *fine, y.data(), y.data(), nullptr, 0, 4, 1, y.data()),
      cnn::Error);  // 3 pooled rows
}

TEST_CASE("continue_product of every ISA: a product cut along k equals that ISA's gemm, bitwise") {
  // The sums of a SIMD gemm with k <= kGemmOneBlock start from 0 and add their terms in order;
  // continue_product in two parts (the second continuing the first's sums) makes the same bits
  // where the vector multiply-adds are fused, as the scalar std::fma of the columns past the last
  // vector is: AVX2 and AVX-512 (kernels/simd/fused.hpp), whatever the compiler. SSE2 has no
  // fused multiply-add: within 1e-5 there. The reference continues in float, against a float
  // sum written out here.
  cnn::Rng rng(61);
  for (Isa isa : isas()) {
    CAPTURE(isa_name(isa));
    const auto& fns = simd::eltwise_for(isa);
    for (std::size_t rows : {1, 7, 8, 13, 127})
      for (std::size_t f : {1, 16, 17, 32, 64})
        for (std::size_t k : {2, 40, 256}) {
          CAPTURE(rows);
          CAPTURE(f);
          CAPTURE(k);
          const std::size_t lda = k + 3, ldy = f + 5, cut = k / 2 + 1;
          const std::vector<float> a = random_vec(rng, rows * lda), b = random_vec(rng, k * f);
          std::vector<float> want(rows * ldy, -7.0f), got(rows * ldy, -7.0f);
          if (isa == Isa::Reference) {
            for (std::size_t r = 0; r < rows; ++r)
              for (std::size_t j = 0; j < f; ++j) {
                float s = 0.0f;
                for (std::size_t t = 0; t < k; ++t) s = std::fma(a[r * lda + t], b[t * f + j], s);
                want[r * ldy + j] = s;
              }
          } else {
            gemm_for(isa, Trans::No, Trans::No, rows, f, k, 1.0f, a.data(), lda, b.data(), f, 0.0f,
                     want.data(), ldy);
          }
          fns.continue_product(a.data(), lda, b.data(), rows, cut, f, got.data(), ldy, false);
          fns.continue_product(a.data() + cut, lda, b.data() + cut * f, rows, k - cut, f,
                               got.data(), ldy, true);
          if (isa != Isa::Sse2) {
            CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
            continue;
          }
          for (std::size_t i = 0; i < want.size(); ++i)
            CHECK(std::fabs(got[i] - want[i]) <= 1e-5f * std::max(1.0f, std::fabs(want[i])));
        }
  }
}
