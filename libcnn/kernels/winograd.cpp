// Winograd F(2x2, 3x3): kernel, input and output transforms around 16 GEMMs per block of tiles.
#include "kernels/winograd.hpp"

#include <algorithm>

#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"

namespace cnn::kernels {

namespace {

// Scratch per block of tiles: V [16, tiles, in_c] and M [16, tiles, out_c]. 8 MiB keeps a block
// in the L3 cache while the GEMMs read V and write M, with blocks of hundreds of tiles (the
// GEMMs' rows) for the channel counts of VGG16.
constexpr std::size_t kBlockBudget = std::size_t{8} << 20;
constexpr std::size_t kMinBlockTiles = 64;

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 &&
         g.dil_w == 1 && g.out_h > 0 && g.out_w > 0;
}

void winograd_kernel_transform(const float* kernel, std::size_t in_c, std::size_t out_c, float* u) {
  const std::size_t cc = in_c * out_c;
  for (std::size_t e = 0; e < cc; ++e) {
    float g[3][3];
    for (std::size_t y = 0; y < 3; ++y)
      for (std::size_t x = 0; x < 3; ++x) g[y][x] = kernel[(y * 3 + x) * cc + e];
    // t = G g (4x3), then U = t G^T (4x4).
    float t[4][3];
    for (std::size_t x = 0; x < 3; ++x) {
      t[0][x] = g[0][x];
      t[1][x] = 0.5f * (g[0][x] + g[1][x] + g[2][x]);
      t[2][x] = 0.5f * (g[0][x] - g[1][x] + g[2][x]);
      t[3][x] = g[2][x];
    }
    for (std::size_t y = 0; y < 4; ++y) {
      u[(y * 4 + 0) * cc + e] = t[y][0];
      u[(y * 4 + 1) * cc + e] = 0.5f * (t[y][0] + t[y][1] + t[y][2]);
      u[(y * 4 + 2) * cc + e] = 0.5f * (t[y][0] - t[y][1] + t[y][2]);
      u[(y * 4 + 3) * cc + e] = t[y][2];
    }
  }
}

void winograd_conv3x3(const ConvGeometry& g, std::size_t n, const float* x, const float* u,
                      std::size_t out_c, float* y, std::vector<float>& scratch,
                      std::size_t block_tiles) {
  const std::size_t c = g.c;
  const std::size_t tiles_h = (g.out_h + 1) / 2, tiles_w = (g.out_w + 1) / 2;
  const std::size_t per_sample = tiles_h * tiles_w, total = n * per_sample;
  const std::size_t per_tile = 16 * (c + out_c) * sizeof(float);
  const std::size_t block =
      std::min(total, block_tiles ? block_tiles : std::max(kMinBlockTiles, kBlockBudget / per_tile));
  scratch.resize(16 * block * (c + out_c));
  float* v = scratch.data();
  float* m = v + 16 * block * c;
  const std::size_t in_size = g.h * g.w * c, out_size = g.out_h * g.out_w * out_c;

  for (std::size_t t0 = 0; t0 < total; t0 += block) {
    const std::size_t bt = std::min(block, total - t0);
    // Input transform: tile t's 4x4 patch starts at (2 ty - pad_top, 2 tx - pad_left).
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      std::vector<float> d(16 * c);
      for (std::size_t t = lo; t < hi; ++t) {
        const std::size_t tile = t0 + t, s = tile / per_sample, r = tile % per_sample;
        const long iy0 = static_cast<long>(2 * (r / tiles_w)) - static_cast<long>(g.pad_top);
        const long ix0 = static_cast<long>(2 * (r % tiles_w)) - static_cast<long>(g.pad_left);
        const float* xs = x + s * in_size;
        for (long i = 0; i < 4; ++i)
          for (long j = 0; j < 4; ++j) {
            float* dst = d.data() + static_cast<std::size_t>(i * 4 + j) * c;
            const long iy = iy0 + i, ix = ix0 + j;
            if (iy < 0 || ix < 0 || iy >= static_cast<long>(g.h) || ix >= static_cast<long>(g.w))
              std::fill(dst, dst + c, 0.0f);
            else
              std::copy_n(xs + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * c, c, dst);
          }
        // V = B^T d B, channel by channel (contiguous: the compiler vectorises over ch).
        float* vt = v + t * c;
        const std::size_t vstride = bt * c;
        for (std::size_t ch = 0; ch < c; ++ch) {
          float w[4][4];
          for (std::size_t j = 0; j < 4; ++j) {
            const float d0 = d[(0 * 4 + j) * c + ch], d1 = d[(1 * 4 + j) * c + ch];
            const float d2 = d[(2 * 4 + j) * c + ch], d3 = d[(3 * 4 + j) * c + ch];
            w[0][j] = d0 - d2;
            w[1][j] = d1 + d2;
            w[2][j] = d2 - d1;
            w[3][j] = d1 - d3;
          }
          for (std::size_t i = 0; i < 4; ++i) {
            vt[(i * 4 + 0) * vstride + ch] = w[i][0] - w[i][2];
            vt[(i * 4 + 1) * vstride + ch] = w[i][1] + w[i][2];
            vt[(i * 4 + 2) * vstride + ch] = w[i][2] - w[i][1];
            vt[(i * 4 + 3) * vstride + ch] = w[i][1] - w[i][3];
          }
        }
      }
    });
    // M_k = V_k U_k for the 16 tile positions.
    for (std::size_t k = 0; k < 16; ++k)
      gemm(Trans::No, Trans::No, bt, out_c, c, 1.0f, v + k * bt * c, c, u + k * c * out_c, out_c,
           0.0f, m + k * bt * out_c, out_c);
    // Output transform: Y = A^T M A, the 2x2 block clipped at the bottom/right edge.
    parallel_for(0, bt, [&](std::size_t lo, std::size_t hi) {
      const std::size_t mstride = bt * out_c;
      for (std::size_t t = lo; t < hi; ++t) {
        const std::size_t tile = t0 + t, s = tile / per_sample, r = tile % per_sample;
        const std::size_t oy = 2 * (r / tiles_w), ox = 2 * (r % tiles_w);
        const bool y1 = oy + 1 < g.out_h, x1 = ox + 1 < g.out_w;
        float* ys = y + s * out_size;
        float* o00 = ys + (oy * g.out_w + ox) * out_c;
        float* o01 = o00 + out_c;
        float* o10 = o00 + g.out_w * out_c;
        float* o11 = o10 + out_c;
        const float* mt = m + t * out_c;
        for (std::size_t f = 0; f < out_c; ++f) {
          float q[4][4];
          for (std::size_t i = 0; i < 4; ++i)
            for (std::size_t j = 0; j < 4; ++j) q[i][j] = mt[(i * 4 + j) * mstride + f];
          float a[2][4];
          for (std::size_t j = 0; j < 4; ++j) {
            a[0][j] = q[0][j] + q[1][j] + q[2][j];
            a[1][j] = q[1][j] - q[2][j] - q[3][j];
          }
          o00[f] = a[0][0] + a[0][1] + a[0][2];
          if (x1) o01[f] = a[0][1] - a[0][2] - a[0][3];
          if (y1) {
            o10[f] = a[1][0] + a[1][1] + a[1][2];
            if (x1) o11[f] = a[1][1] - a[1][2] - a[1][3];
          }
        }
      }
    });
  }
}

}  // namespace cnn::kernels
