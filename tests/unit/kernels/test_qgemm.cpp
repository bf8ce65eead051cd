// The int8 product (kernels/qgemm.hpp) on every ISA this machine runs: its int32 sums equal a
// 64-bit scalar sum exactly, and its epilogue's floats equal the stated formula bit for bit, on
// shapes with partial tiles, odd k, several k blocks and column panels, for any thread count.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "isa_test_util.hpp"
#include "kernels/qgemm.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

namespace {

using cnn::test::ThreadsGuard;
std::vector<Isa> all_isas() { return cnn::test::reference_and_simd_isas(); }

std::string name_of(Isa isa) {
  return isa_name(isa) + (native_int8(isa) ? " (VNNI)" : " (portable)");
}

struct Problem {
  std::size_t m, n, k, lda;
  std::vector<std::uint8_t> a;
  std::vector<std::int8_t> b;  // [k, n], rows n apart
};

Problem make(cnn::Rng& rng, std::size_t m, std::size_t n, std::size_t k, std::size_t pad) {
  Problem p{m, n, k, k + pad, {}, {}};
  p.a.resize(m * p.lda);
  p.b.resize(k * n);
  for (auto& v : p.a) v = static_cast<std::uint8_t>(rng.uniform(0, 256));
  for (auto& v : p.b) v = static_cast<std::int8_t>(std::floor(rng.uniform(-128, 128)));
  return p;
}

std::vector<std::int64_t> exact(const Problem& p) {
  std::vector<std::int64_t> c(p.m * p.n, 0);
  for (std::size_t i = 0; i < p.m; ++i)
    for (std::size_t q = 0; q < p.k; ++q)
      for (std::size_t j = 0; j < p.n; ++j)
        c[i * p.n + j] += std::int64_t{p.a[i * p.lda + q]} * p.b[q * p.n + j];
  return c;
}

std::uint32_t bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

// A convolution's random input (values count), int8 kernel [k, f] and epilogue scales and bias.
struct ConvData {
  std::vector<float> x;
  std::vector<std::int8_t> w;
  std::vector<float> scale, bias;
};
ConvData random_conv(cnn::Rng& rng, std::size_t values, std::size_t k, std::size_t f) {
  ConvData d{std::vector<float>(values), std::vector<std::int8_t>(k * f), std::vector<float>(f),
             std::vector<float>(f)};
  for (auto& v : d.x) v = static_cast<float>(rng.uniform(-0.5, 3));
  for (auto& v : d.w) v = static_cast<std::int8_t>(std::floor(rng.uniform(-128, 128)));
  for (auto& v : d.scale) v = static_cast<float>(rng.uniform(1e-4, 1e-2));
  for (auto& v : d.bias) v = static_cast<float>(rng.uniform(-1, 1));
  return d;
}

}  // namespace

TEST_CASE("qgemm: int32 sums exactly the 64-bit ones, on every ISA and shape") {
  ThreadsGuard guard;
  set_num_threads(2);
  cnn::Rng rng(41);
  struct Case {
    std::size_t m, n, k, pad;
  };
  const Case cases[] = {{1, 1, 1, 0},       {3, 5, 7, 1},    {14, 32, 4, 0}, {15, 33, 9, 3},
                        {29, 64, 288, 0},   {40, 48, 64, 3},  // A in place: k % 4 == 0
                        {100, 17, 1537, 2},                   // k in 2 blocks
                        {300, 600, 70, 0},                    // 2 column panels, threads
                        {50, 64, 3073, 5}};                   // 3 k blocks
  for (const Case& cs : cases) {
    const Problem p = make(rng, cs.m, cs.n, cs.k, cs.pad);
    const std::vector<std::int64_t> want = exact(p);
    for (Isa isa : all_isas()) {
      CAPTURE(name_of(isa));
      CAPTURE(cs.m);
      CAPTURE(cs.n);
      CAPTURE(cs.k);
      PackedQB b(isa);
      b.pack(p.k, p.n, p.b.data(), p.n);
      std::vector<std::int32_t> c(p.m * (p.n + 1), -7);  // one column of padding, kept
      qgemm(p.m, p.a.data(), p.lda, b, c.data(), p.n + 1);
      std::size_t wrong = 0, touched = 0;
      for (std::size_t i = 0; i < p.m; ++i) {
        for (std::size_t j = 0; j < p.n; ++j) wrong += c[i * (p.n + 1) + j] != want[i * p.n + j];
        touched += c[i * (p.n + 1) + p.n] != -7;
      }
      CHECK(wrong == 0);
      CHECK(touched == 0);
      for (std::size_t j = 0; j < p.n; ++j) {
        std::int32_t s = 0;
        for (std::size_t q = 0; q < p.k; ++q) s += p.b[q * p.n + j];
        REQUIRE(b.column_sums()[j] == s);
      }
    }
  }
  // The extremes: 255 x -128 over k = 3000 (-97,920,000) and 255 x 127.
  for (std::int8_t w : {std::int8_t{-128}, std::int8_t{127}}) {
    const std::size_t m = 20, n = 40, k = 3000;
    std::vector<std::uint8_t> a(m * k, 255);
    std::vector<std::int8_t> bm(k * n, w);
    for (Isa isa : all_isas()) {
      PackedQB b(isa);
      b.pack(k, n, bm.data(), n);
      std::vector<std::int32_t> c(m * n);
      qgemm(m, a.data(), k, b, c.data(), n);
      for (std::int32_t v : c) REQUIRE(v == 255 * std::int32_t{w} * 3000);
    }
  }
}

TEST_CASE("qgemm: the epilogue's floats are the stated formula, bitwise, for any thread count") {
  ThreadsGuard guard;
  cnn::Rng rng(42);
  struct Case {
    std::size_t m, n, k;
    bool bias, relu;
    std::int32_t zero_point;
  };
  const Case cases[] = {{29, 64, 288, true, true, 0},
                        {100, 33, 1700, false, true, 128},  // 2 k blocks through int32 memory
                        {300, 520, 100, true, false, 37}};
  for (const Case& cs : cases) {
    const Problem p = make(rng, cs.m, cs.n, cs.k, 0);
    const std::vector<std::int64_t> sums = exact(p);
    std::vector<float> scale(p.n), bias(p.n);
    for (auto& v : scale) v = static_cast<float>(rng.uniform(1e-5, 1e-3));
    for (auto& v : bias) v = static_cast<float>(rng.uniform(-1, 1));
    std::vector<std::int32_t> colsum(p.n, 0);
    for (std::size_t q = 0; q < p.k; ++q)
      for (std::size_t j = 0; j < p.n; ++j) colsum[j] += p.b[q * p.n + j];
    std::vector<float> want(p.m * p.n);
    for (std::size_t i = 0; i < p.m; ++i)
      for (std::size_t j = 0; j < p.n; ++j) {
        const auto s = static_cast<std::int32_t>(sums[i * p.n + j]) - cs.zero_point * colsum[j];
        float y = std::fma(scale[j], static_cast<float>(s), cs.bias ? bias[j] : 0.0f);
        if (cs.relu) y = y > 0.0f ? y : 0.0f;
        want[i * p.n + j] = y;
      }
    for (Isa isa : all_isas()) {
      PackedQB b(isa);
      b.pack(p.k, p.n, p.b.data(), p.n);
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        std::vector<float> y(p.m * p.n, NAN);
        QEpilogue ep;
        ep.scale = scale.data();
        ep.bias = cs.bias ? bias.data() : nullptr;
        ep.zero_point = cs.zero_point;
        ep.relu = cs.relu;
        ep.y = y.data();
        ep.ldy = p.n;
        qgemm(p.m, p.a.data(), p.lda, b, ep);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < y.size(); ++i) wrong += bits(y[i]) != bits(want[i]);
        REQUIRE_MESSAGE(wrong == 0, name_of(isa) << ", " << threads << " threads, m=" << cs.m
                                                 << " k=" << cs.k << ": " << wrong << " differ");
      }
    }
  }
}

TEST_CASE("quantize_u8: the stated formula on every ISA, bitwise, edges included") {
  // Ties (x / scale = k + 0.5: to even), values past 0 and 255, infinities and NaN (to 0), and
  // lengths that leave vector tails.
  cnn::Rng rng(43);
  const float scale = 0.5f;
  std::vector<float> x{0.25f,  0.75f,    1.25f,     -0.25f, -3.0f, 127.25f, 127.75f, 1e30f,
                       -1e30f, INFINITY, -INFINITY, NAN,    0.0f,  -0.0f,   63.0f};
  for (int i = 0; i < 200; ++i) x.push_back(static_cast<float>(rng.uniform(-10, 140)));
  for (std::int32_t z : {0, 3, 128}) {
    std::vector<std::uint8_t> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float r = std::nearbyint(x[i] * (1.0f / scale)) + static_cast<float>(z);
      want[i] = !(r > 0.0f) ? 0 : r >= 255.0f ? 255 : static_cast<std::uint8_t>(r);
    }
    CHECK(want[0] == z + 0);  // 0.5 -> 0
    CHECK(want[1] == z + 2);  // 1.5 -> 2
    CHECK(want[2] == z + 2);  // 2.5 -> 2
    CHECK(want[11] == 0);     // NaN
    for (Isa isa : all_isas())
      for (std::size_t cols : {std::size_t{1}, std::size_t{15}, std::size_t{17}, x.size()}) {
        CAPTURE(name_of(isa));
        CAPTURE(cols);
        const std::size_t rows = x.size() / cols;
        std::vector<std::uint8_t> got(rows * cols, 7);
        quantize_u8(x.data(), rows, cols, cols, scale, z, got.data(), isa);
        CHECK(std::memcmp(got.data(), want.data(), got.size()) == 0);
      }
  }
}

TEST_CASE("qconv: windows read in place give im2col_u8 + qgemm's floats, bitwise") {
  // Valid and "same" padding, kernels 3x3, 2x2, 1x3, 5x5, channels 4 to 64, rows that end inside
  // a 14-row tile and panels of 32 columns partly used; any thread count; and qconv_rows' bands.
  ThreadsGuard guard;
  cnn::Rng rng(44);
  struct Case {
    std::size_t h, w, c, kh, kw, filters, n;
    Padding padding;
    std::int32_t zero_point;
    std::size_t stride_h = 1, stride_w = 1;
  };
  const Case cases[] = {{13, 13, 32, 3, 3, 64, 3, Padding::Valid, 0},
                        // Strides: 14 windows of one output row at a time (SqueezeNet's first
                        // layer: 3x3 / 2 on 3 channels; rows longer than a tile; "same").
                        {23, 35, 3, 3, 3, 64, 2, Padding::Valid, 0, 2, 2},
                        {10, 9, 16, 3, 3, 40, 2, Padding::Same, 9, 2, 2},
                        {11, 12, 8, 2, 4, 24, 1, Padding::Valid, 3, 3, 1},
                        {9, 17, 4, 3, 3, 33, 2, Padding::Same, 7},
                        {8, 8, 12, 2, 2, 16, 1, Padding::Valid, 200},
                        {6, 11, 8, 1, 3, 40, 2, Padding::Same, 0},
                        {12, 10, 60, 5, 5, 70, 2, Padding::Same, 128},
                        // Channels padded to 4 with the zero point (first layers).
                        {20, 19, 3, 3, 3, 32, 2, Padding::Valid, 0},
                        {9, 8, 1, 3, 3, 32, 3, Padding::Same, 5},
                        // One channel, kw 2 to 4: each row's taps packed into a cell (MNIST's
                        // 28x28 first layer; strides; 4x4; a 2x1 and a 5-wide one not packed).
                        {28, 28, 1, 3, 3, 32, 2, Padding::Valid, 0},
                        {15, 17, 1, 3, 3, 24, 2, Padding::Same, 3, 2, 2},
                        {12, 13, 1, 4, 4, 16, 2, Padding::Same, 250, 1, 3},
                        {10, 11, 1, 1, 2, 20, 2, Padding::Valid, 17},
                        {10, 11, 1, 2, 1, 20, 2, Padding::Valid, 17},
                        {14, 16, 1, 5, 5, 33, 2, Padding::Same, 40},
                        {11, 10, 2, 3, 3, 48, 2, Padding::Same, 200},
                        {16, 15, 3, 3, 3, 32, 2, Padding::Same, 9},
                        // 13 pixels a row: tiles along each row (fewer windows than across).
                        {13, 13, 16, 3, 3, 64, 2, Padding::Same, 5},
                        // kw = 1: no window crosses a row's end (tiles end on one).
                        {12, 30, 8, 3, 1, 24, 2, Padding::Valid, 3},
                        {7, 9, 6, 2, 3, 17, 2, Padding::Valid, 77}};
  for (const Case& cs : cases) {
    const ConvGeometry g =
        *conv_geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.stride_h, cs.stride_w, 1, 1, cs.padding);
    CAPTURE(cs.stride_h);
    const std::size_t k = g.col_cols(), f = cs.filters, m = g.col_rows();
    CAPTURE(cs.h);
    CAPTURE(cs.c);
    CAPTURE(cs.kh);
    auto [x, w, scale, bias] = random_conv(rng, cs.n * cs.h * cs.w * cs.c, k, f);
    const float in_scale = 3.5f / 255.0f;
    for (Isa isa : all_isas()) {
      CAPTURE(name_of(isa));
      PackedQB b(isa);
      b.pack(k, f, w.data(), f);
      // qconv's kernel: a zero row for each channel (or tap) it adds.
      const std::size_t kp = qconv_k(g);
      CHECK(kp == (qconv_packs_taps(g) ? g.kh * 4 : g.kh * g.kw * qconv_channels(g)));
      CHECK(qconv_packs_taps(g) == (cs.c == 1 && cs.kw >= 2 && cs.kw <= 4));
      std::vector<float> wf(w.begin(), w.end()), wide(kp * f, NAN);
      pad_kernel_channels(g, wf.data(), f, wide.data());
      std::vector<std::int8_t> wq(wide.begin(), wide.end());
      PackedQB bp(isa);
      bp.pack(kp, f, wq.data(), f);
      REQUIRE(qconv_fits(g, bp) == native_int8(isa));
      CHECK(qconv_fits(g, b) == (native_int8(isa) && kp == k));
      if (!qconv_fits(g, bp)) {
        CHECK_THROWS_AS(qconv(g, cs.n, nullptr, bp, QEpilogue{}), cnn::Error);
        continue;
      }
      // The oracle: quantize, im2col_u8 with the zero point as padding, qgemm.
      std::vector<std::uint8_t> qx(x.size()), col(m * k);
      quantize_u8(x.data(), x.size() / cs.c, cs.c, cs.c, in_scale, cs.zero_point, qx.data(), isa);
      std::vector<float> want(cs.n * m * f);
      QEpilogue ep;
      ep.scale = scale.data();
      ep.bias = bias.data();
      ep.zero_point = cs.zero_point;
      ep.relu = true;
      ep.ldy = f;
      for (std::size_t s = 0; s < cs.n; ++s) {
        im2col_u8(g, qx.data() + s * cs.h * cs.w * cs.c, static_cast<std::uint8_t>(cs.zero_point),
                  col.data());
        ep.y = want.data() + s * m * f;
        qgemm(m, col.data(), k, b, ep);
      }
      std::vector<std::uint8_t> padded(qconv_input_bytes(g, cs.n));
      quantize_conv_input(g, cs.n, x.data(), in_scale, cs.zero_point, padded.data(), isa);
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        std::vector<float> y(want.size(), NAN);
        ep.y = y.data();
        qconv(g, cs.n, padded.data(), bp, ep);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < y.size(); ++i) wrong += bits(y[i]) != bits(want[i]);
        REQUIRE_MESSAGE(wrong == 0,
                        threads << " threads: " << wrong << " of " << y.size() << " differ");
      }
      // Bands of rows of the last sample, as a fused pooling asks for them.
      const std::uint8_t* last = padded.data() + (cs.n - 1) * qconv_sample_bytes(g);
      for (std::size_t oy0 = 0; oy0 < g.out_h; oy0 += 2) {
        const std::size_t oy1 = std::min(oy0 + 2, g.out_h);
        std::vector<float> band((oy1 - oy0) * g.out_w * f, NAN);
        ep.y = band.data();
        qconv_rows(g, last, bp, ep, oy0, oy1);
        const float* ref = want.data() + ((cs.n - 1) * m + oy0 * g.out_w) * f;
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < band.size(); ++i) wrong += bits(band[i]) != bits(ref[i]);
        REQUIRE_MESSAGE(wrong == 0, "rows " << oy0 << "-" << oy1 << ": " << wrong << " differ");
      }
      // And the whole sample in one band (tiles across many rows' ends).
      std::vector<float> whole(m * f, NAN);
      ep.y = whole.data();
      qconv_rows(g, last, bp, ep, 0, g.out_h);
      CHECK(std::memcmp(whole.data(), want.data() + (cs.n - 1) * m * f, whole.size() * 4) == 0);
    }
  }
  // The windows a band of rows costs (the int8 pooled path sizes its bands by it): 14 a tile,
  // across rows at stride 1 (15 pixels + 2 crossing the row's end per row) where that costs
  // fewer, else along each row.
  const ConvGeometry g15 = *conv_geometry(17, 17, 128, 3, 3, 1, 1, 1, 1, Padding::Valid);
  CHECK(qconv_windows(g15, 0) == 0);
  CHECK(qconv_windows(g15, 2) == 42);    // 17 + 15 = 32 windows
  CHECK(qconv_windows(g15, 14) == 238);  // 13 * 17 + 15 = 236
  const ConvGeometry g13 = *conv_geometry(13, 13, 64, 3, 3, 1, 1, 1, 1, Padding::Same);
  CHECK(qconv_windows(g13, 13) == 13 * 14);  // along rows: across would be 12 * 15 + 13 -> 196
  const ConvGeometry g2 = *conv_geometry(31, 31, 3, 3, 3, 2, 2, 1, 1, Padding::Valid);
  CHECK(qconv_windows(g2, 3) == 3 * 28);  // 15 pixels a row
  // What does not fit: dilations, 1x1 (its input is already the col matrix), kernels past one
  // k block.
  for (Isa isa : supported_isas()) {
    if (!native_int8(isa)) continue;
    CHECK(qconv_fits(*conv_geometry(9, 9, 8, 3, 3, 1, 1, 1, 1, Padding::Valid), isa));
    CHECK(qconv_fits(*conv_geometry(9, 9, 8, 3, 3, 2, 2, 1, 1, Padding::Valid), isa));
    CHECK_FALSE(qconv_fits(*conv_geometry(9, 9, 8, 3, 3, 1, 1, 2, 2, Padding::Valid), isa));
    CHECK(qconv_fits(*conv_geometry(9, 9, 3, 3, 3, 1, 1, 1, 1, Padding::Valid), isa));
    CHECK_FALSE(qconv_fits(*conv_geometry(9, 9, 8, 1, 1, 1, 1, 1, 1, Padding::Valid), isa));
    CHECK_FALSE(qconv_fits(*conv_geometry(9, 9, 256, 3, 3, 1, 1, 1, 1, Padding::Valid), isa));
  }
}

TEST_CASE("qconv_pool2_rows: qconv_rows' floats max-pooled 2x2 / 2, bitwise") {
  // Tap-packed (one channel), channels padded to 4 and whole; odd output sizes (the last row or
  // column dropped), rows whose last tile is partly past the end, strides, "same" padding,
  // slivers partly used and two column panels (520 filters); relu on and off.
  cnn::Rng rng(45);
  struct Case {
    std::size_t h, w, c, kh, kw, filters;
    Padding padding;
    std::int32_t zero_point;
    bool relu;
    std::size_t stride = 1;
  };
  const Case cases[] = {{28, 28, 1, 3, 3, 32, Padding::Valid, 0, true},
                        {13, 17, 1, 3, 3, 24, Padding::Same, 3, false},
                        {20, 19, 3, 3, 3, 32, Padding::Valid, 9, true},
                        {13, 13, 32, 3, 3, 64, Padding::Valid, 0, true},
                        {16, 23, 16, 3, 3, 40, Padding::Same, 200, false, 2},
                        {9, 10, 4, 3, 3, 520, Padding::Valid, 17, true},
                        {7, 9, 8, 2, 2, 16, Padding::Valid, 5, true}};
  for (const Case& cs : cases) {
    const ConvGeometry g =
        *conv_geometry(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.stride, cs.stride, 1, 1, cs.padding);
    CAPTURE(cs.h);
    CAPTURE(cs.w);
    CAPTURE(cs.c);
    CAPTURE(cs.filters);
    const std::size_t k = qconv_k(g), f = cs.filters, pw = g.out_w / 2, ph = g.out_h / 2;
    auto [x, w, scale, bias] = random_conv(rng, cs.h * cs.w * cs.c, k, f);
    for (Isa isa : all_isas()) {
      if (!native_int8(isa)) continue;
      CAPTURE(name_of(isa));
      PackedQB b(isa);
      b.pack(k, f, w.data(), f);
      std::vector<std::uint8_t> padded(qconv_input_bytes(g, 1));
      quantize_conv_input(g, 1, x.data(), 3.5f / 255.0f, cs.zero_point, padded.data(), isa);
      QEpilogue ep;
      ep.scale = scale.data();
      ep.bias = bias.data();
      ep.zero_point = cs.zero_point;
      ep.relu = cs.relu;
      ep.ldy = f;
      // The oracle: the whole sample's rows, then the largest of each 2x2 block.
      std::vector<float> rows(g.out_h * g.out_w * f);
      ep.y = rows.data();
      qconv_rows(g, padded.data(), b, ep, 0, g.out_h);
      std::vector<float> want(ph * pw * f);
      for (std::size_t py = 0; py < ph; ++py)
        for (std::size_t px = 0; px < pw; ++px)
          for (std::size_t j = 0; j < f; ++j) {
            float m = -INFINITY;
            for (std::size_t dy = 0; dy < 2; ++dy)
              for (std::size_t dx = 0; dx < 2; ++dx)
                m = std::max(m, rows[((2 * py + dy) * g.out_w + 2 * px + dx) * f + j]);
            want[(py * pw + px) * f + j] = m;
          }
      // Bands of 1 and 3 pooled rows, and the whole sample; pixels wider than f (ldy).
      for (std::size_t band : {std::size_t{1}, std::size_t{3}, ph}) {
        CAPTURE(band);
        const std::size_t ldy = band == 3 ? f + 5 : f;
        std::vector<float> y(ph * pw * ldy, NAN);
        ep.ldy = ldy;
        for (std::size_t py = 0; py < ph; py += band) {
          ep.y = y.data() + py * pw * ldy;
          qconv_pool2_rows(g, padded.data(), b, ep, py, py + band);
        }
        std::size_t wrong = 0;
        for (std::size_t p = 0; p < ph * pw; ++p)
          for (std::size_t j = 0; j < f; ++j)
            wrong += bits(y[p * ldy + j]) != bits(want[p * f + j]);
        CHECK_MESSAGE(wrong == 0, wrong << " of " << want.size() << " differ");
        ep.ldy = f;
      }
    }
  }
}
