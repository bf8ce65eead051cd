// Conv2D: configuration, shape inference, and forward/backward as im2col + GEMM over chunks of
// samples.
#include "layers/conv2d.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/eltwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "kernels/winograd.hpp"
#include "tensor/budget.hpp"

namespace cnn {

using kernels::Trans;

void Conv2D::configure(ConfigReader& cfg) {
  filters_ = static_cast<std::size_t>(cfg.get_int("filters", std::nullopt, 1));
  kernel_size_ = detail::read_pair(cfg, "kernel_size", std::nullopt, 1);
  strides_ = detail::read_pair(cfg, "strides", detail::Pair{1, 1}, 1);
  padding_ = kernels::padding_from_name(
      cfg.get_choice("padding", std::string("valid"), kernels::padding_names()));
  dilation_ = detail::read_pair(cfg, "dilation_rate", detail::Pair{1, 1}, 1);
  if (std::max(strides_[0], strides_[1]) > 1 && std::max(dilation_[0], dilation_[1]) > 1)
    throw cfg.error("dilation_rate",
                    "dilation_rate " + detail::pair_str(dilation_) +
                        " cannot be combined with strides " + detail::pair_str(strides_) +
                        "; expected strides 1 when dilation_rate > 1 (as Keras requires)");
  activation_ = kernels::act_from_name(
      cfg.get_choice("activation", std::string("linear"), kernels::act_names()));
  use_bias_ = cfg.get_bool("use_bias", true);
  kernel_init_ = init_from_name(
      cfg.get_choice("kernel_initializer", std::string("glorot_uniform"), init_names()));
  bias_init_ =
      init_from_name(cfg.get_choice("bias_initializer", std::string("zeros"), init_names()));
  quant_ = detail::read_quantization(cfg);
}

void Conv2D::write_config(json_ordered& out) const {
  out["filters"] = filters_;
  out["kernel_size"] = detail::pair_json(kernel_size_);
  out["strides"] = detail::pair_json(strides_);
  out["padding"] = kernels::padding_name(padding_);
  out["dilation_rate"] = detail::pair_json(dilation_);
  out["activation"] = kernels::act_name(activation_);
  out["use_bias"] = use_bias_;
  out["kernel_initializer"] = init_name(kernel_init_);
  out["bias_initializer"] = init_name(bias_init_);
  detail::write_quantization(quant_, out);
}

Shape Conv2D::infer_shape(const std::vector<Shape>& inputs) {
  if (auto p = detail::image_shape_problem(inputs); !p.empty()) throw shape_error(p);
  const Shape& s = inputs[0];
  const auto geo =
      kernels::conv_geometry(s[0], s[1], s[2], kernel_size_[0], kernel_size_[1], strides_[0],
                             strides_[1], dilation_[0], dilation_[1], padding_);
  if (!geo) {
    // Only "valid" padding can fail; report the (clamped) output it would have had.
    auto would = [](std::size_t in, std::size_t k, std::size_t stride, std::size_t d) {
      const std::size_t ek = (k - 1) * d + 1;
      return in < ek ? std::size_t{0} : (in - ek) / stride + 1;
    };
    const Shape bad{would(s[0], kernel_size_[0], strides_[0], dilation_[0]),
                    would(s[1], kernel_size_[1], strides_[1], dilation_[1]), filters_};
    throw shape_error("input " + shape_str(s) + " is smaller than the " +
                      detail::pair_str(kernel_size_) + " kernel (dilation_rate " +
                      detail::pair_str(dilation_) + ") with 'valid' padding: the output " +
                      shape_str(bad) + " would be below 1x1");
  }
  geo_ = *geo;
  in_shape_ = s;
  out_shape_ = {geo_.out_h, geo_.out_w, filters_};

  // The plan. A 1x1 stride-1 unpadded convolution reads every input cell exactly once, in
  // order: the NHWC input [h * w, c] already is the col matrix [m, k]. Winograd: few channels
  // make thin GEMMs that the transforms' passes over memory outweigh (the first layer of an RGB
  // network), and on small maps the 4x4 tiles hang far past the edge; elsewhere F(4x4,3x3)
  // measured faster than im2col + GEMM (1.9-3.6x on VGG16's layers, 1.5x on the lecture's MNIST
  // conv2d_1; share/layers.md). The input gradient of a Winograd layer is itself a 3x3 stride-1
  // convolution: of dz with the kernel flipped and its channels swapped, [3, 3, f, in_c],
  // padded by 2 - pad.
  plan_.direct_col = geo_.kh == 1 && geo_.kw == 1 && geo_.stride_h == 1 && geo_.stride_w == 1 &&
                     geo_.pad_top == 0 && geo_.pad_left == 0 && geo_.out_h == geo_.h &&
                     geo_.out_w == geo_.w;
  plan_.small_k = geo_.col_cols() <= kernels::kSmallK;
  const bool channels = geo_.c >= kWinogradMinChannels && filters_ >= kWinogradMinChannels;
  plan_.winograd = channels && kernels::winograd_pays(geo_, filters_);
  kernels::ConvGeometry& back = plan_.back;
  back = geo_;
  back.h = geo_.out_h;
  back.w = geo_.out_w;
  back.c = filters_;
  back.pad_top = 2 - std::min<std::size_t>(geo_.pad_top, 2);
  back.pad_left = 2 - std::min<std::size_t>(geo_.pad_left, 2);
  back.out_h = geo_.h;
  back.out_w = geo_.w;
  plan_.winograd_dx = plan_.winograd && kernels::winograd_pays(back, geo_.c);

  params().clear();  // infer_shape declares the parameters afresh
  add_param("kernel", {kernel_size_[0], kernel_size_[1], s[2], filters_}, kernel_init_);
  if (use_bias_) add_param("bias", {filters_}, bias_init_);
  return out_shape_;
}

namespace {

// Scratch budget of one chunk's im2col matrix, in bytes (see chunk_samples). 4 MiB: big enough
// that the small layers of the lecture's nets (MNIST: 24 KiB to 140 KiB of col per sample) put a
// whole batch, or a large part of it, into one GEMM with a tall M -- one parallel region instead
// of one per sample, and the packed kernel panel reused over all the rows -- yet small enough
// that the col matrix written by im2col is still in the L2/L3 caches when the GEMM packs it, and
// that the layer's scratch does not grow with the batch size. Layers whose col matrix per sample
// is over the budget (cats-vs-dogs' first layers: 2.4 MiB and 6 MiB) run one sample per GEMM,
// which is already a large GEMM.
std::size_t g_chunk_budget = std::size_t{4} << 20;

// The weight gradient's row split (see backward): kernels of at most kSmallKernel floats, chunks
// of at least kSplitRows rows per slice, kSplits slices (enough for the 2-4 cores this runs on).
constexpr std::size_t kSmallKernel = 64 * 64, kSplitRows = 2048, kSplits = 4;

// Rows per task of the small-k forward.
constexpr std::size_t kSmallKRows = 256;

// The fewest tiles per chunk for which Conv2D::backward computes the kernel gradient by Winograd.
constexpr std::size_t kWinogradGradTiles = 256;

// The fewest tiles in a batch for which an output-only inference forward transforms the kernel
// for Winograd on every call into its scratch (in a planned model, the planned buffer), instead
// of keeping it (36 values for every 9 of the kernel: 224 MB for VGG16). The transform writes 36 *
// in_c * out_c floats (1 ms for 512 -> 512 on 2 cores), the product does 72 * tiles * in_c * out_c
// flops: at 128 tiles the transform costs at most ~15 % of the layer, and a few % where most of a
// model's time is spent (VGG16 at batch 20: block5 has 180 tiles, block1 28,880).
constexpr std::size_t kTransientKernelTiles = 128;

// The largest col matrix of a whole batch that a training forward keeps for backward, in bytes.
constexpr std::size_t kKeepColBytes = std::size_t{16} << 20;

// The most bytes of convolution rows a float forward fused with its pooling makes per task
// before pooling them (forward_fused).
constexpr std::size_t kFusedBandBytes = std::size_t{512} << 10;

// The most bytes of convolution rows the int8 path fused with its pooling makes per task
// (forward_int8_pooled).
constexpr std::size_t kInt8BandBytes = std::size_t{128} << 10;

// A band of convolution rows that a fused forward pools (forward_fused, forward_int8_pooled):
// rows [have0, have1) of a sample, row_out floats each, at `rows`. take(oy0, oy1) makes it rows
// [oy0, oy1): those it holds already (overlapping pooling windows share rows with the last
// band) move to the front, and it returns how many did; the caller computes the rest after them.
struct RowBand {
  float* rows;
  std::size_t row_out;
  std::size_t have0 = 0, have1 = 0;
  std::size_t take(std::size_t oy0, std::size_t oy1) {
    const std::size_t kept = oy0 < have1 ? std::min(have1, oy1) - oy0 : 0;
    if (kept && oy0 > have0)
      std::memmove(rows, rows + (oy0 - have0) * row_out, kept * row_out * sizeof(float));
    have0 = oy0;
    have1 = oy1;
    return kept;
  }
};

// How many tasks a sample's `rows` output rows are cut into, for a batch of n on the pool's
// threads: about 4 per thread in all, so that a batch smaller than the threads still spreads.
std::size_t sample_parts(std::size_t rows, std::size_t n) {
  const auto threads = static_cast<std::size_t>(kernels::num_threads());
  return std::min(rows, std::max<std::size_t>(1, (threads * 4 + n - 1) / n));
}

// Pools a band's convolution rows (count of them, from `rows`) into pooled rows [py0, py1) of a
// sample (both fused forwards): into out_sample (ldo floats a pixel), or, with a sink, into
// `pooled` [py1 - py0, out_w, f] and from there quantized into the sink's sample.
void pool_band_rows(const detail::Pool2D& pool, const float* rows, std::size_t count,
                    std::size_t py0, std::size_t py1, std::size_t f, std::size_t ldo,
                    float* out_sample, detail::QuantizedInput* sink, float* pooled,
                    std::uint8_t* sink_sample) {
  const kernels::PoolGeometry& pg = pool.geometry();
  if (!sink) {
    pool.pool_band(rows, count, out_sample + py0 * pg.out_w * ldo, f, ldo, py1 - py0);
    return;
  }
  pool.pool_band(rows, count, pooled, f, f, py1 - py0);
  for (std::size_t py = py0; py < py1; ++py)
    kernels::quantize_conv_row(sink->geometry, pooled + (py - py0) * pg.out_w * f, sink->scale,
                               sink->zero_point, py, sink_sample);
}

// Pooled rows that a product makes itself (a 2x2 / 2 max pooling taken inside it): make(s, py0,
// py1, y, ldy) writes sample s's pooled rows [py0, py1) to y, pixels ldy floats apart. Each task
// (a part of a sample's rows) writes them straight into out (ldo floats a pixel), or, with a
// sink, up to `rows` of them at a time into this thread's part of scratch (threads * slot
// floats), from where they are quantized into the sink's sample.
template <class Make>
void pooled_rows(const kernels::PoolGeometry& pg, std::size_t n, std::size_t f, std::size_t ldo,
                 float* out, detail::QuantizedInput* sink, float* scratch, std::size_t slot,
                 std::size_t rows, Make make) {
  const auto threads = static_cast<std::size_t>(kernels::num_threads());
  const std::size_t parts = sample_parts(pg.out_h, n), out_size = pg.out_size();
  const std::size_t sink_sample = sink ? kernels::qconv_sample_bytes(sink->geometry) : 0;
  std::atomic<std::size_t> next_slot{0};
  kernels::parallel_for(0, n * parts, [&](std::size_t lo, std::size_t hi) {
    float* pooled = sink ? scratch + next_slot.fetch_add(1) % threads * slot : nullptr;
    for (std::size_t task = lo; task < hi; ++task) {
      const std::size_t s = task / parts, part = task % parts;
      const std::size_t py0 = pg.out_h * part / parts, py_end = pg.out_h * (part + 1) / parts;
      if (!sink) {
        make(s, py0, py_end, out + s * out_size + py0 * pg.out_w * ldo, ldo);
        continue;
      }
      for (std::size_t py1, p0 = py0; p0 < py_end; p0 = py1) {
        py1 = std::min(py_end, p0 + rows);
        make(s, p0, py1, pooled, f);
        for (std::size_t py = p0; py < py1; ++py)
          kernels::quantize_conv_row(sink->geometry, pooled + (py - p0) * pg.out_w * f, sink->scale,
                                     sink->zero_point, py, sink->data + s * sink_sample);
      }
    }
  });
  if (sink) sink->filled = true;
}
}  // namespace

void Conv2D::set_chunk_budget(std::size_t bytes) { g_chunk_budget = bytes; }

namespace {
// CNN_CHECK_PARAMS_VERSION=1 at start-up: version-keyed caches also compare values.
bool check_params_version() {
  static const bool on = [] {
    const char* v = std::getenv("CNN_CHECK_PARAMS_VERSION");
    return v && std::string(v) == "1";
  }();
  return on;
}

// On unless CNN_WINOGRAD=0 at start-up.
bool winograd_from_environment() {
  const char* v = std::getenv("CNN_WINOGRAD");
  return !(v && std::string(v) == "0");
}
std::atomic<bool> g_winograd{winograd_from_environment()};
}  // namespace

void Conv2D::set_winograd(bool enabled) { g_winograd = enabled; }
bool Conv2D::winograd_enabled() { return g_winograd; }

namespace {
// Resizes scratch whose size follows from the model's shapes (an im2col matrix is kh * kw * c
// times the output: a layer with a small output can need far more than its activations), after
// checking a growth against the memory budget: refused in one sentence, not killed for memory.
void sized(AlignedVector<float>& v, std::size_t count, const std::string& layer, const char* what) {
  if (count > v.size()) check_memory(count, sizeof(float), "layer " + quote(layer) + ": " + what);
  v.resize(count);
}

void sized_bytes(AlignedVector<std::uint8_t>& v, std::size_t count, const std::string& layer,
                 const char* what) {
  if (count > v.size()) check_memory(count, 1, "layer " + quote(layer) + ": " + what);
  v.resize(count);
}

// The Winograd tile blocks' scratch (up to ~75 MB for 512 channels), one per calling thread and
// shared by every layer: the layers of a model run one after the other.
AlignedVector<float>& winograd_scratch() {
  static thread_local AlignedVector<float> scratch;
  return scratch;
}

// The Winograd kernel an output-only inference forward outside a planned model (no
// Context::scratch) transforms on every call, one per calling thread and shared by every layer
// like winograd_scratch.
kernels::WinogradKernel& transient_winograd_kernel() {
  static thread_local kernels::WinogradKernel u;
  return u;
}
}  // namespace

namespace {
// Winograd on (CNN_WINOGRAD, set_winograd) and not the reference ISA (CNN_KERNELS=reference),
// which keeps the direct convolution, the oracle.
bool winograd_switched_on() {
  return g_winograd && kernels::active_isa() != kernels::Isa::Reference;
}
}  // namespace

bool Conv2D::winograd_forward() const { return plan_.winograd && winograd_switched_on(); }

bool Conv2D::transient_kernel(std::size_t n) const {
  return n * kernels::winograd_tiles(geo_) >= kTransientKernelTiles;
}

std::size_t Conv2D::derived_bytes(std::size_t batch) const {
  return winograd_forward() && !transient_kernel(batch) ? 36 * geo_.c * filters_ * sizeof(float)
                                                        : 0;
}

std::size_t Conv2D::scratch_bytes(std::size_t batch) const {
  // (A quantized layer's output-only forward is int8: no Winograd.)
  if (!winograd_forward() || (quant_ && detail::int8_enabled())) return 0;
  std::size_t floats = kernels::winograd_scratch_floats(geo_, batch, filters_);
  if (transient_kernel(batch))
    floats += kernels::WinogradKernel::storage_floats(kernels::active_isa(), geo_.c, filters_);
  return floats * sizeof(float);
}
bool Conv2D::winograd_input_grad() const { return plan_.winograd_dx && winograd_switched_on(); }

std::size_t Conv2D::chunk_samples(std::size_t n, bool im2col) const {
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols();
  // The widest per-row scratch: col/dcol [m, k] or dz [m, filters] (only dz without im2col).
  const std::size_t per_sample = m * (im2col ? std::max(k, filters_) : filters_) * sizeof(float);
  const std::size_t cs =
      std::max<std::size_t>(1, g_chunk_budget / std::max<std::size_t>(1, per_sample));
  // Chunks of equal size (64 samples at most 30 per chunk: 22 + 21 + 21, not 30 + 30 + 4): a
  // short last chunk is a GEMM too small to keep every thread busy.
  const std::size_t nn = std::max<std::size_t>(n, 1), chunks = (nn + cs - 1) / cs;
  return (nn + chunks - 1) / chunks;
}

// The col matrix of samples [s0, s0 + cs) of x: [cs * m, k]. Points into x for 1x1 convolutions;
// else im2col into col_ (at the chunk's own place when the whole batch's col is kept, else at
// its start), one sample per task (samples are independent, so the result does not depend on
// the thread count).
const float* Conv2D::chunk_col(const float* x, std::size_t s0, std::size_t cs, bool keep) {
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), in_size = numel(in_shape_);
  if (plan_.direct_col) return x + s0 * in_size;
  float* col = nullptr;
  if (keep) {
    col = col_.data() + s0 * m * k;  // sized for the batch by forward
  } else {
    sized(col_, cs * m * k, name(), "the im2col matrix");
    col = col_.data();
  }
  // One task per output row of each sample, so a chunk of one large sample still uses every
  // thread. Each task writes its own rows of col.
  const std::size_t oh = geo_.out_h, row_floats = geo_.out_w * k;
  kernels::parallel_for(0, cs * oh, [&](std::size_t t) {
    const std::size_t j = t / oh, oy = t % oh;
    // Output row oy of the sample is output row 0 of the input shifted down by oy * stride_h
    // (what of that shift falls in the top padding stays padding).
    kernels::ConvGeometry g = geo_;
    const std::size_t shift = oy * g.stride_h;
    const float* in = x + (s0 + j) * in_size;
    if (shift >= g.pad_top) {
      in += (shift - g.pad_top) * g.w * g.c;
      g.h -= shift - g.pad_top;
      g.pad_top = 0;
    } else {
      g.pad_top -= shift;
    }
    g.out_h = 1;
    kernels::im2col(g, in, col + j * m * k + oy * row_floats);
  });
  return col;
}

void Conv2D::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  kept_col_batch_.reset();
  const kernels::Act act = act_for(ctx, activation_);
  if (int8_forward(ctx))
    forward_int8(ctx, x, act, out);
  else if (winograd_forward())
    forward_winograd(ctx, x, act, out);
  else
    forward_gemm(ctx, x, act, out);
}

// Winograd's products stay float under Precision::Bf16 (mixed-precision training). Its
// transforms multiply by up to 8 and add up to 36 terms that largely cancel, so bfloat16's 8
// bits in the transformed tiles and kernel do not survive them: a 13x13x16 -> 17 layer's output
// came out 1.9% off (RMS) against 0.2% for the same layer by im2col and a bf16 GEMM, and the
// cats_dogs convnet trained only 5% faster for it.
constexpr kernels::Precision kWinogradPrecision = kernels::Precision::Fp32;

void Conv2D::forward_winograd(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out) {
  const kernels::MatmulPrecisionScope precision(kWinogradPrecision);
  const float* kernel = params()[0].value;
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  const std::size_t n = x.shape()[0];
  // The tile blocks and (made on every call) the kernel in the planned buffer when the model
  // gives scratch (scratch_bytes(n)), else in memory of this thread's.
  float* scratch = static_cast<float*>(ctx.scratch);
  const std::size_t ldy = ctx.output_ldy;
  const auto conv = [&](const kernels::WinogradKernel& u) {
    if (scratch)
      kernels::winograd_conv3x3(geo_, n, x.data(), u, bias, act, out.data(), scratch, 0, ldy);
    else
      kernels::winograd_conv3x3(geo_, n, x.data(), u, bias, act, out.data(), winograd_scratch(), 0,
                                ldy);
  };
  if (ctx.output_only && !ctx.training && transient_kernel(n)) {
    // Nothing kept: what an earlier forward kept goes. The kernel goes after the tile blocks in
    // the planned scratch (scratch_bytes), or into this thread's.
    wino_.reset();
    AlignedVector<float>().swap(wino_kernel_);
    wino_source_ = nullptr;
    ++kernel_transforms_;
    std::optional<kernels::WinogradKernel> planned;
    kernels::WinogradKernel& u = scratch ? planned.emplace() : transient_winograd_kernel();
    u.set(kernel, geo_.c, filters_,
          scratch ? scratch + kernels::winograd_scratch_floats(geo_, n, filters_) : nullptr);
    conv(u);
    return;
  }
  // The transform is made again only when the kernel may have changed: in a model, when its
  // parameters' version has (Model::params_version; in training every step changes it); on
  // its own, when the values differ from a copy. CNN_CHECK_PARAMS_VERSION=1 compares in a model
  // too, and a difference the version missed (a write through a pointer kept across a forward
  // without params_changed) is an error rather than a silently wrong output.
  const std::size_t kn = 9 * geo_.c * filters_;
  const bool versioned = ctx.params_version != 0;
  auto same_values = [&] {
    return wino_kernel_.size() == kn &&
           std::memcmp(wino_kernel_.data(), kernel, kn * sizeof(float)) == 0;
  };
  const bool unchanged = wino_ && wino_source_ == kernel &&
                         (versioned ? wino_version_ == ctx.params_version : same_values());
  if (unchanged && versioned && check_params_version() && !same_values())
    throw Error(name() +
                ": the kernel changed without Model::params_changed() (a write "
                "through a pointer kept across a forward)");
  if (!unchanged) {
    if (!wino_) wino_ = std::make_unique<kernels::WinogradKernel>();
    wino_->set(kernel, geo_.c, filters_);
    ++kernel_transforms_;
    wino_source_ = kernel;
    wino_version_ = ctx.params_version;
    if (!versioned || check_params_version())
      wino_kernel_.assign(kernel, kernel + kn);
    else
      wino_kernel_.clear();
  }
  conv(*wino_);
}

void Conv2D::forward_gemm(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out) {
  const std::size_t n = x.shape()[0];
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_;
  const std::size_t ldy = ctx.output_ldy ? ctx.output_ldy : f;  // a Concatenate's slice: wider
  const float* kernel = params()[0].value;
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  const std::size_t chunk = chunk_samples(n);
  // Training: keep the whole batch's col matrix for backward's weight gradient when it is small
  // (the lecture's MNIST layers: 1.3-9 MB at batch 64) instead of building it again there.
  // (A thin product reads its windows in the input, in forward and backward alike.)
  const bool keep = ctx.training && !plan_.direct_col && !plan_.small_k &&
                    n * m * k * sizeof(float) <= kKeepColBytes;
  if (keep) sized(col_, n * m * k, name(), "the im2col matrix");

  if (plan_.small_k && !plan_.direct_col) {
    // A thin product (a first layer: k = 9 or 27): broadcast-FMA rows that read the windows in
    // the input, with bias and activation fused, blocks of a sample's rows in parallel (rows are
    // independent). No im2col: it took 40% of SqueezeNet's conv1.
    const std::size_t in_size = numel(in_shape_), per_sample = (m + kSmallKRows - 1) / kSmallKRows;
    kernels::parallel_for(0, n * per_sample, [&](std::size_t b) {
      const std::size_t s = b / per_sample, p0 = b % per_sample * kSmallKRows;
      const std::size_t count = std::min(m, p0 + kSmallKRows) - p0;
      kernels::small_k_conv(act, geo_, x.data() + s * in_size, kernel, bias, p0, count, f,
                            out.data() + (s * m + p0) * ldy, ldy);
    });
    return;
  }
  for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
    const std::size_t cs = std::min(chunk, n - s0), rows = cs * m;
    const float* col = chunk_col(x.data(), s0, cs, keep);
    float* y = out.data() + s0 * m * ldy;
    if (plan_.small_k) {
      // A thin product (a first layer: k = 9 or 27): broadcast-FMA rows with bias and
      // activation fused, blocks of rows in parallel (rows are independent).
      const std::size_t blocks = (rows + kSmallKRows - 1) / kSmallKRows;
      kernels::parallel_for(0, blocks, [&](std::size_t b) {
        const std::size_t r0 = b * kSmallKRows, r1 = std::min(rows, r0 + kSmallKRows);
        kernels::small_k_forward(act, col + r0 * k, kernel, bias, r1 - r0, k, f, y + r0 * ldy, ldy);
      });
      continue;
    }
    // y[rows, f] = col[rows, k] * kernel[k, f]; [cs * m, f] is [cs, out_h, out_w, filters], NHWC.
    kernels::gemm(Trans::No, Trans::No, rows, f, k, 1.0f, col, k, kernel, f, 0.0f, y, ldy);
    // Bias and activation in one pass while the chunk's output is still in cache. Softmax (if
    // chosen) normalises each row of [rows, filters]: the channel axis.
    kernels::bias_act_forward(act, y, bias, rows, f, ldy);
  }
  if (keep) kept_col_batch_ = n;
}

bool Conv2D::int8_forward(const Context& ctx) const {
  return quant_ && ctx.output_only && !ctx.training && detail::int8_enabled();
}

void Conv2D::forward_int8(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out,
                          const detail::Pool2D* pool) {
  const std::size_t n = x.shape()[0];
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_;
  const std::size_t ldy = ctx.output_ldy ? ctx.output_ldy : f;  // a Concatenate's slice: wider
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  if (!qprod_) qprod_ = std::make_unique<detail::QuantizedProduct>();
  const bool direct = int8_direct();
  qprod_->prepare(params()[0].value, k, f, *quant_, direct ? &geo_ : nullptr, ctx.params_version);
  const bool relu = act == kernels::Act::Relu;
  if (direct) {
    // The windows read where they lie in the quantized input: no col matrix at all.
    sized_bytes(qx_, kernels::qconv_input_bytes(geo_, n), name(), "the quantized input");
    qprod_->conv(geo_, n, take_quantized_input(n) ? nullptr : x.data(), bias, relu, qx_.data(),
                 out.data(), ldy);
    if (act != kernels::Act::Linear && !relu)
      kernels::bias_act_forward(act, out.data(), nullptr, n * m, f, ldy);
    return;
  }
  // Otherwise the input quantized once, then im2col of bytes (a quarter of the float col's
  // traffic, and each input value quantized once rather than once per tap).
  const std::size_t in_size = numel(in_shape_);
  sized_bytes(qx_, n * in_size, name(), "the quantized input");
  qprod_->quantize(x.data(), n * in_size / geo_.c, geo_.c, geo_.c, qx_.data());
  const std::size_t chunk = chunk_samples(n);
  if (!plan_.direct_col)
    sized_bytes(qcol_, std::min(chunk, n) * m * k, name(), "the im2col matrix");
  // Pooled (SqueezeNet's conv10 and its global average pooling): the chunk's output [cs * m, f]
  // is pooled while in cache, never written whole (13.5 MB of conv10's at batch 20).
  if (pool) sized(fused_, std::min(chunk, n) * m * f, name(), "the convolution's output");
  const std::size_t pooled_size = pool ? pool->geometry().out_size() : 0;  // ldy wide
  for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
    const std::size_t cs = std::min(chunk, n - s0), rows = cs * m;
    const std::uint8_t* col = qx_.data() + s0 * in_size;  // 1x1: the input is its col matrix
    if (!plan_.direct_col) {
      kernels::parallel_for(0, cs, [&](std::size_t j) {
        kernels::im2col_u8(geo_, qx_.data() + (s0 + j) * in_size, qprod_->zero_point(),
                           qcol_.data() + j * m * k);
      });
      col = qcol_.data();
    }
    const std::size_t ld = pool ? f : ldy;
    float* y = pool ? fused_.data() : out.data() + s0 * m * ldy;
    qprod_->run(rows, col, k, bias, relu, y, ld);
    if (act != kernels::Act::Linear && !relu)
      kernels::bias_act_forward(act, y, nullptr, rows, f, ld);
    if (pool)
      kernels::parallel_for(0, cs, [&](std::size_t j) {
        pool->pool_sample(y + j * m * f, out.data() + (s0 + j) * pooled_size, f, ldy);
      });
  }
}

double Conv2D::forward_macs() const {
  return static_cast<double>(numel(out_shape_)) * static_cast<double>(geo_.col_cols());
}

bool Conv2D::int8_direct() const {
  return quant_ && detail::int8_enabled() && kernels::qconv_fits(geo_);
}

bool Conv2D::fuses_with(const Layer& next) const {
  const auto* pool = dynamic_cast<const detail::Pool2D*>(&next);
  if (!pool) return false;
  // A quantized layer's output-only forward is int8: fused by bands of rows when its windows
  // are read in place, else by chunks of samples.
  if (quant_ && detail::int8_enabled()) return !int8_direct() || pool->band_pools();
  return plan_.small_k && !winograd_forward();
}

void Conv2D::quantize_direct_input(const Context& ctx, const Tensor& x) {
  const std::size_t n = x.shape()[0];
  if (!qprod_) qprod_ = std::make_unique<detail::QuantizedProduct>();
  qprod_->prepare(params()[0].value, geo_.col_cols(), filters_, *quant_, &geo_, ctx.params_version);
  sized_bytes(qx_, kernels::qconv_input_bytes(geo_, n), name(), "the quantized input");
  if (!take_quantized_input(n)) qprod_->quantize_conv_input(geo_, n, x.data(), qx_.data());
}

bool Conv2D::pools_2x2(const detail::Pool2D& pool, kernels::Act act) const {
  const kernels::PoolGeometry& pg = pool.geometry();
  return pool.mode() == detail::PoolMode::Max && pg.ph == 2 && pg.pw == 2 && pg.stride_h == 2 &&
         pg.stride_w == 2 && pg.pad_top == 0 && pg.pad_left == 0 && pg.dil_h == 1 &&
         pg.dil_w == 1 && pg.out_h == geo_.out_h / 2 && pg.out_w == geo_.out_w / 2 &&
         (act == kernels::Act::Relu || act == kernels::Act::Linear);
}

void Conv2D::forward_int8_pooled(const Context& ctx, const Tensor& x, kernels::Act act,
                                 const detail::Pool2D& pool, Tensor& out) {
  const std::size_t n = x.shape()[0], f = filters_;
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  const bool relu = act == kernels::Act::Relu;
  quantize_direct_input(ctx, x);
  const kernels::PoolGeometry& pg = pool.geometry();
  const std::size_t sample_bytes = kernels::qconv_sample_bytes(geo_), out_size = pg.out_size();
  const std::size_t ldo = pg.c;  // a pooled Concatenate's part (forward_fused): wider than f
  // The next int8 convolution's input, written here quantized instead of the pooled floats.
  detail::QuantizedInput* sink = quantized_sink(ctx, n, pg);
  const std::size_t sink_sample = sink ? kernels::qconv_sample_bytes(sink->geometry) : 0;
  const auto threads = static_cast<std::size_t>(kernels::num_threads());
  std::atomic<std::size_t> next_slot{0};
  if (pools_2x2(pool, act)) {
    // The 2x2 / 2 max pooling inside the product (kernels::qconv_pool2_rows): pooled rows
    // straight to the output, or, with a sink, a band of them at a time in a scratch that the
    // sink's quantization reads. At batch 256 on 2 cores (Zen 5), MNIST's first layer (28x28x1
    // -> 32, taps packed) 0.56-0.64 -> 0.30 ms, its second (13x13x32 -> 64) 0.87-0.93 -> 0.69;
    // at batch 20, the cats-vs-dogs convnet's first layer 1.76-2.12 -> 1.07-1.18 ms.
    const std::size_t row = pg.out_w * f;
    const std::size_t band_rows =
        std::clamp<std::size_t>(kInt8BandBytes / 4 / sizeof(float) / row, 1, pg.out_h);
    const std::size_t band = sink ? line_floats(band_rows * row) : 0;
    if (sink) sized(fused_, threads * band, name(), "the pooled rows of a band");
    pooled_rows(pg, n, f, ldo, out.data(), sink, fused_.data(), band, band_rows,
                [&](std::size_t s, std::size_t py0, std::size_t py1, float* y, std::size_t ldy) {
                  qprod_->conv_pool2_rows(geo_, qx_.data() + s * sample_bytes, bias, relu, y, ldy,
                                          py0, py1);
                });
    return;
  }
  // Bands of convolution rows [rows, out_w, filters], out_rows pooled rows at a time. The
  // convolution's tiles of 14 windows run across a band's rows, so the band's size decides how
  // many windows are computed for nothing: 2 rows of 15 pixels (cats_dogs' conv2d_3) leave 12 of
  // 42 unused, its whole sample 28 of 238. Of the bands up to kInt8BandBytes (larger ones
  // measured slower: 2 x 34 pixels of 128 filters, 35 KB, ran 2.33-2.35 ms against 2.40-2.60
  // for bands of up to 512 KB), the one with the fewest such windows per row it makes.
  const std::size_t row_out = geo_.out_w * f;  // floats per convolution row
  const std::size_t fit_rows = std::max(pg.ph, kInt8BandBytes / sizeof(float) / row_out);
  // The windows a band of p pooled rows computes per row it makes (once the first band is done,
  // p * stride_h rows: overlapping windows keep the rest).
  const auto waste = [&](std::size_t p) {
    const std::size_t made = p * pg.stride_h;
    return static_cast<double>(kernels::qconv_windows(geo_, made)) / static_cast<double>(made);
  };
  std::size_t out_rows = 1;
  for (std::size_t j = 2; j <= std::min(pg.out_h, (fit_rows - pg.ph) / pg.stride_h + 1); ++j)
    if (waste(j) < waste(out_rows)) out_rows = j;
  const auto last_row = [&](std::size_t py1) {  // the end of pooled rows [.., py1)'s input rows
    return std::min((py1 - 1) * pg.stride_h + pg.ph, geo_.out_h);
  };
  const std::size_t band =
      line_floats(last_row(out_rows) * row_out + (sink ? out_rows * pg.out_w * f : 0));
  // Tasks: parts of a sample's pooled rows (a batch smaller than the threads still spreads).
  const std::size_t parts = sample_parts(pg.out_h, n);
  sized(fused_, threads * band, name(), "the convolution rows of pooled rows");
  kernels::parallel_for(0, n * parts, [&](std::size_t lo, std::size_t hi) {
    float* rows = fused_.data() + next_slot.fetch_add(1) % threads * band;
    for (std::size_t task = lo; task < hi; ++task) {
      const std::size_t s = task / parts, part = task % parts;
      const std::size_t part_end = pg.out_h * (part + 1) / parts;
      RowBand made{rows, row_out};
      for (std::size_t py0 = pg.out_h * part / parts; py0 < part_end; py0 += out_rows) {
        // The windows' rows, clipped to the convolution's output (ceil-mode pooling). Those
        // the last band had too (overlapping windows: 3x3 / 2) are moved to the front rather
        // than computed again; the others are computed after them.
        const std::size_t py1 = std::min(part_end, py0 + out_rows);
        const std::size_t oy0 = py0 * pg.stride_h, oy1 = last_row(py1);
        const std::size_t kept = made.take(oy0, oy1);
        if (oy0 + kept < oy1) {
          float* fresh = rows + kept * row_out;
          qprod_->conv_rows(geo_, qx_.data() + s * sample_bytes, bias, relu, fresh, oy0 + kept,
                            oy1);
          if (act != kernels::Act::Linear && !relu)
            kernels::act_forward(act, fresh, (oy1 - oy0 - kept) * geo_.out_w, f);
        }
        pool_band_rows(pool, rows, oy1 - oy0, py0, py1, f, ldo, out.data() + s * out_size, sink,
                       rows + last_row(out_rows) * row_out,
                       sink ? sink->data + s * sink_sample : nullptr);
      }
    }
  });
  if (sink) sink->filled = true;
}

detail::QuantizedInput* Conv2D::quantized_sink(const Context& ctx, std::size_t n,
                                               const kernels::PoolGeometry& pg) const {
  detail::QuantizedInput* sink = ctx.quantized_output;
  const bool fits = sink && sink->geometry.h == pg.out_h && sink->geometry.w == pg.out_w &&
                    sink->geometry.c == filters_ && sink->batch == n && pg.c == filters_;
  return fits ? sink : nullptr;
}

bool Conv2D::writes_quantized_output() const {
  // Both fused paths (forward_fused: int8, and float thin) can quantize what they pool.
  if (quant_ && detail::int8_enabled()) return int8_direct();
  return plan_.small_k && !winograd_forward();
}

bool Conv2D::writes_strided_output() const { return true; }

bool Conv2D::runs_int8() const { return quant_ && detail::int8_enabled(); }

bool Conv2D::takes_product_parts() const {
  // Its GEMM sums each output in one block (kernels::continue_product continues them part by
  // part, the same bits); a thin one starts its sums from the bias (small_k_forward).
  return plan_.direct_col && !plan_.small_k && !runs_int8() && geo_.c <= kernels::kGemmOneBlock;
}

bool Conv2D::feeds_product(const Layer& next) const {
  const auto* product = dynamic_cast<const Conv2D*>(&next);
  if (!product || !product->takes_product_parts()) return false;
  // The paths that make their output a band of rows at a time: an int8 convolution reading its
  // windows in place, a thin 1x1 in float (SqueezeNet's expand 1x1 on 16 or 32 channels).
  if (runs_int8()) return int8_direct();
  return plan_.small_k && plan_.direct_col;
}

void Conv2D::add_product(const float* band, std::size_t rows, std::size_t channels,
                         const Context::ProductPart& part, float* out) const {
  const std::size_t f = filters_;
  // The kernel [1, 1, in_c, f]: the part's channels are its rows [channel, channel + channels).
  const float* kernel = params()[0].value + part.channel * f;
  kernels::continue_product(band, channels, kernel, rows, channels, f, out, f, !part.first);
  if (part.last)
    kernels::bias_act_forward(activation_, out, use_bias_ ? params()[1].value : nullptr, rows, f,
                              f);
}

void Conv2D::forward_product(const Context& ctx, const Tensor& x, const Conv2D& next,
                             const Context::ProductPart& part, Tensor& out) {
  const std::size_t n = x.shape()[0], m = geo_.col_rows(), f = filters_, nf = next.filters_;
  if (part.channel + f > next.geo_.c || out.size() != n * m * nf)
    throw shape_error("the product after it (" + next.name() + ") does not read " +
                      std::to_string(f) + " channels from " + std::to_string(part.channel) +
                      " of this layer's output shape");
  const kernels::Act act = act_for(ctx, activation_);
  const bool relu = act == kernels::Act::Relu;
  const bool act_done = relu || act == kernels::Act::Linear;  // by the product's own pass
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  const auto threads = static_cast<std::size_t>(kernels::num_threads());
  // Per task, bands of this layer's output rows in a scratch that stays in cache, each added
  // into next's output rows as soon as it is made.
  std::atomic<std::size_t> next_slot{0};
  if (runs_int8()) {
    if (!int8_forward(ctx) || !int8_direct())
      throw Error(name() + ": the product's part in int8 is for output-only inference");
    quantize_direct_input(ctx, x);
    const std::size_t sample_bytes = kernels::qconv_sample_bytes(geo_);
    const std::size_t row_out = geo_.out_w * f;
    const std::size_t band_rows =
        std::clamp<std::size_t>(kInt8BandBytes / sizeof(float) / row_out, 1, geo_.out_h);
    const std::size_t band = line_floats(band_rows * row_out);
    // Tasks: parts of a sample's rows (a batch smaller than the threads still spreads).
    const std::size_t parts = sample_parts(geo_.out_h, n);
    sized(fused_, threads * band, name(), "the convolution rows of a product's part");
    kernels::parallel_for(0, n * parts, [&](std::size_t lo, std::size_t hi) {
      float* rows = fused_.data() + next_slot.fetch_add(1) % threads * band;
      for (std::size_t task = lo; task < hi; ++task) {
        const std::size_t s = task / parts, p = task % parts;
        const std::size_t oy1 = geo_.out_h * (p + 1) / parts;
        for (std::size_t y0 = geo_.out_h * p / parts; y0 < oy1; y0 += band_rows) {
          const std::size_t y1 = std::min(oy1, y0 + band_rows), count = (y1 - y0) * geo_.out_w;
          qprod_->conv_rows(geo_, qx_.data() + s * sample_bytes, bias, relu, rows, y0, y1);
          if (!act_done) kernels::act_forward(act, rows, count, f);
          next.add_product(rows, count, f, part, out.data() + (s * m + y0 * geo_.out_w) * nf);
        }
      }
    });
    return;
  }
  // A thin 1x1 in float: its input is its col matrix, kSmallKRows rows a task.
  const float* kernel = params()[0].value;
  const std::size_t k = geo_.col_cols(), rows_total = n * m;
  const std::size_t band = line_floats(kSmallKRows * f);
  sized(fused_, threads * band, name(), "the convolution rows of a product's part");
  kernels::parallel_for(
      0, (rows_total + kSmallKRows - 1) / kSmallKRows, [&](std::size_t lo, std::size_t hi) {
        float* rows = fused_.data() + next_slot.fetch_add(1) % threads * band;
        for (std::size_t b = lo; b < hi; ++b) {
          const std::size_t r0 = b * kSmallKRows, count = std::min(rows_total - r0, kSmallKRows);
          kernels::small_k_forward(act, x.data() + r0 * k, kernel, bias, count, k, f, rows, f);
          next.add_product(rows, count, f, part, out.data() + r0 * nf);
        }
      });
}

detail::QuantizedInput* Conv2D::quantized_input(std::size_t n) {
  if (!int8_direct()) return nullptr;
  sized_bytes(qx_, kernels::qconv_input_bytes(geo_, n), name(), "the quantized input");
  if (!qin_) qin_ = std::make_unique<detail::QuantizedInput>();
  *qin_ = {geo_, quant_->input_scale, quant_->input_zero_point, qx_.data(), n, false};
  kernels::fill_conv_padding(geo_, n, quant_->input_zero_point, qx_.data());
  return qin_.get();
}

bool Conv2D::take_quantized_input(std::size_t n) {
  const bool ready = qin_ && qin_->filled && qin_->batch == n && qin_->data == qx_.data();
  if (qin_) qin_->filled = false;
  return ready;
}

void Conv2D::forward_fused(Context& ctx, Inputs in, const Layer& next, Tensor& out) {
  if (ctx.product_part) {
    if (!feeds_product(next)) Layer::forward_fused(ctx, in, next, out);  // throws
    const Tensor& x = *in[0];
    if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
    forward_product(ctx, x, dynamic_cast<const Conv2D&>(next), *ctx.product_part, out);
    return;
  }
  if (!fuses_with(next)) Layer::forward_fused(ctx, in, next, out);  // throws
  const auto& pool = dynamic_cast<const detail::Pool2D&>(next);
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  const kernels::PoolGeometry& pg = pool.geometry();
  // A part of a Concatenate that is pooled part by part (Model::pooled_concat): this layer's
  // channels of the pooled output, its pixels ctx.output_ldy floats apart.
  const std::size_t ldo = ctx.output_ldy ? ctx.output_ldy : filters_;
  if (pg.h != geo_.out_h || pg.w != geo_.out_w || pg.c != ldo || filters_ > ldo)
    throw shape_error("the pooling layer after it expects " + std::to_string(pg.h) + "x" +
                      std::to_string(pg.w) + "x" + std::to_string(pg.c) + " inputs");
  const std::size_t n = x.shape()[0];
  const std::size_t f = filters_, in_size = numel(in_shape_);
  if (out.size() != n * pg.out_h * pg.out_w * f)
    throw shape_error("the pooled output holds " + std::to_string(out.size()) +
                      " values, expected " + std::to_string(n * pg.out_h * pg.out_w * f));
  if (quant_ && detail::int8_enabled()) {
    if (!int8_forward(ctx))
      throw Error(name() + ": the fused int8 forward is for output-only inference");
    if (int8_direct())
      forward_int8_pooled(ctx, x, act_for(ctx, activation_), pool, out);
    else
      forward_int8(ctx, x, act_for(ctx, activation_), out, &pool);
    return;
  }
  const float* kernel = params()[0].value;
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  const kernels::Act act = act_for(ctx, activation_);
  const std::size_t out_size = pg.out_size();  // per sample, ldo wide
  // The next int8 convolution's input, written here quantized instead of the pooled floats.
  detail::QuantizedInput* sink = quantized_sink(ctx, n, pg);
  if (pools_2x2(pool, act) && kernels::small_k_pool2_fits(act, geo_)) {
    // The 2x2 / 2 max pooling in registers (kernels::small_k_conv_pool2): pooled rows straight
    // to the output, or, with a sink, one at a time through a scratch row into its bytes.
    const std::size_t slot = sink ? line_floats(pg.out_w * f) : 0;
    if (sink)
      sized(fused_, static_cast<std::size_t>(kernels::num_threads()) * slot, name(),
            "a pooled row");
    pooled_rows(pg, n, f, ldo, out.data(), sink, fused_.data(), slot, 1,
                [&](std::size_t s, std::size_t py0, std::size_t py1, float* y, std::size_t ldy) {
                  kernels::small_k_conv_pool2(act, geo_, x.data() + s * in_size, kernel, bias, py0,
                                              py1, f, y, ldy);
                });
    return;
  }
  // Per task, a band of convolution rows [rows, out_w, f] (its windows read in the input) of
  // up to kFusedBandBytes, pooled as soon as it is made: out_rows pooled rows at a time, the
  // rows the next band's windows share moved to the front rather than computed again; with a
  // sink, the band's pooled rows too. The scratch stays bounded whatever the image size. (Per
  // pooled row measured slower: cats_dogs' first layer 2.8 against 3.35 ms at batch 20. A band
  // of 512 KB measured the same as a whole sample in cache.)
  const std::size_t row_out = geo_.out_w * f;  // floats per convolution row
  // (A padded pooling takes the whole sample as one band.)
  const bool whole = !pool.band_pools();
  const std::size_t fit_rows = std::max(pg.ph, kFusedBandBytes / sizeof(float) / row_out);
  const std::size_t out_rows =
      whole ? pg.out_h : std::min(pg.out_h, (fit_rows - pg.ph) / pg.stride_h + 1);
  const auto last_row = [&](std::size_t py1) {  // the end of pooled rows [.., py1)'s input rows
    return whole ? geo_.out_h : std::min((py1 - 1) * pg.stride_h + pg.ph, geo_.out_h);
  };
  const std::size_t band_rows = last_row(out_rows);
  const std::size_t tasks =
      std::min<std::size_t>(n, static_cast<std::size_t>(kernels::num_threads()));
  const std::size_t per_task =
      line_floats(band_rows * row_out + (sink ? out_rows * pg.out_w * f : 0));
  sized(fused_, tasks * per_task, name(), "the convolution's output");
  const std::size_t sink_sample = sink ? kernels::qconv_sample_bytes(sink->geometry) : 0;
  kernels::parallel_for(0, tasks, [&](std::size_t t) {
    float* rows = fused_.data() + t * per_task;
    float* pooled = rows + band_rows * row_out;
    for (std::size_t s = n * t / tasks; s < n * (t + 1) / tasks; ++s) {
      const float* xs = x.data() + s * in_size;
      RowBand made{rows, row_out};
      for (std::size_t py0 = 0; py0 < pg.out_h; py0 += out_rows) {
        const std::size_t py1 = std::min(pg.out_h, py0 + out_rows);
        const std::size_t oy0 = py0 * pg.stride_h;
        const std::size_t oy1 = last_row(py1);
        const std::size_t kept = made.take(oy0, oy1);
        if (oy0 + kept < oy1)
          kernels::small_k_conv(act, geo_, xs, kernel, bias, (oy0 + kept) * geo_.out_w,
                                (oy1 - oy0 - kept) * geo_.out_w, f, rows + kept * row_out);
        pool_band_rows(pool, rows, oy1 - oy0, py0, py1, f, ldo, out.data() + s * out_size, sink,
                       pooled, sink ? sink->data + s * sink_sample : nullptr);
      }
    }
  });
  if (sink) sink->filled = true;
}

struct Conv2D::BackwardPass {
  const Tensor& x;
  const Tensor& out;
  const Tensor& grad_out;
  Tensor* gx;  // dL/dx, or nullptr when not wanted
  Param& kernel;
  Param* bias;       // nullptr without a bias
  kernels::Act act;  // the activation applied in forward (Context::logits)
  bool want_kernel = false, want_bias = false;
  bool unzeroed = false;  // gx is this layer's to zero (Context::grad_in_unzeroed)
  bool kept = false;      // col_ holds the batch's col matrix from the training forward
  bool small = false;     // the kernel gradient by small-k rows
  bool fuse_act = false;  // ... with dz formed on the fly from y and dy (relu/linear)
  bool wino_dx = false;   // the input gradient by Winograd
  bool wino_dw = false;   // the kernel gradient by Winograd
  // ... over the whole batch at once, before the input gradient's chunks (by GEMM) run
  bool wino_dw_whole = false;
  const float* dz = nullptr;  // dL/dz of the chunk at hand
};

void Conv2D::backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                      GradInputs grad_in) {
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(grad_out, out_shape_, "output gradient"); !p.empty())
    throw shape_error(p);
  Tensor* gx = grad_in.empty() ? nullptr : grad_in[0];
  if (gx)
    if (auto p = detail::batch_problem(*gx, in_shape_, "input gradient"); !p.empty())
      throw shape_error(p);

  BackwardPass b{x,
                 out,
                 grad_out,
                 gx,
                 params()[0],
                 use_bias_ ? &params()[1] : nullptr,
                 ctx.grad_out_pre_activation ? kernels::Act::Linear : act_for(ctx, activation_)};
  b.want_kernel = wants_param_grads() && b.kernel.grad;
  b.want_bias = wants_param_grads() && b.bias && b.bias->grad;
  if (!gx && !b.want_kernel && !b.want_bias) return;
  const std::size_t n = x.shape()[0];
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_;
  b.unzeroed = gx && ctx.grad_in_unzeroed;
  b.kept = kept_col_batch_ == n;
  // Small k (a first layer): the kernel and bias gradients in one pass of broadcast-FMAs, with
  // dz formed on the fly from relu/linear when no input gradient needs it materialised.
  b.small = b.want_kernel && plan_.small_k;
  b.fuse_act = b.small && !gx && (b.act == kernels::Act::Relu || b.act == kernels::Act::Linear);
  // Linear (or the relu applied by the pooling after it: Context::grad_out_pre_activation): dz
  // is grad_out itself, read in place.
  const bool dz_is_dy = !b.fuse_act && b.act == kernels::Act::Linear;
  b.wino_dx = gx && winograd_input_grad();
  // The kernel gradient of a Winograd layer: 36 GEMMs whose sums run over the tiles of x and dz
  // of a chunk. With the input gradient by Winograd too (or not wanted) no im2col is needed and
  // chunks are cut by dz alone. Chunks still matter: a whole batch's dz and input gradient at
  // once measured 10% slower (cats_dogs training, 147 vs 163 images/s) than chunks that stay
  // in cache. Below 256 tiles per chunk the 36 short GEMMs and the transforms cost more than
  // im2col + one GEMM (measured: 84 tiles of 64 channels 0.81 vs 0.28 ms; 189 tiles equal).
  const bool no_col = b.want_kernel && winograd_forward() && (!gx || b.wino_dx);
  b.wino_dw =
      no_col && chunk_samples(n, false) * kernels::winograd_tiles(geo_) >= kWinogradGradTiles;
  // With the input gradient by GEMM, whose chunks (sized by its im2col gradient) have too few
  // tiles, the kernel gradient by Winograd still pays over the whole batch: one pass over all
  // of dz first, then the input gradient chunk by chunk, and no im2col of x at all (the
  // lecture's MNIST conv2d_1: 576 tiles at batch 64, where each chunk would have 198).
  b.wino_dw_whole = b.want_kernel && winograd_forward() && gx && !b.wino_dx &&
                    n * kernels::winograd_tiles(geo_) >= kWinogradGradTiles &&
                    n * m * f * sizeof(float) <= kKeepColBytes;
  const std::size_t chunk = chunk_samples(n, !b.wino_dw);
  sized(dz_, b.fuse_act || dz_is_dy ? 0 : (b.wino_dw_whole ? n : chunk) * m * f, name(),
        "the output gradient's scratch");
  if (b.want_kernel) dkernel_.resize(k * f);
  if (b.want_bias) dbias_.assign(f, 0.0f);
  if (gx) {
    sized(dcol_, b.wino_dx ? 0 : chunk * m * k, name(), "the im2col gradient");
    if (!plan_.direct_col && !b.unzeroed) dx_.resize(chunk * numel(in_shape_));
  }
  if (b.wino_dx) prepare_winograd_input_grad();

  // Chunks are fixed by n and the layer's shape, and every sum below runs over the chunks in
  // order (the GEMM's own order within a chunk), so results do not depend on the thread count.
  // dz of samples from s0 on (dz_ holds the chunk's, or the whole batch's).
  const auto dz_at = [&](std::size_t s0) {
    return dz_is_dy ? grad_out.data() + s0 * m * f
                    : dz_.data() + (b.wino_dw_whole ? s0 * m * f : 0);
  };
  if (b.wino_dw_whole) {
    // dz of the whole batch, and the kernel and bias gradients from it in one chunk.
    if (!dz_is_dy) kernels::act_backward(b.act, out.data(), grad_out.data(), dz_.data(), n * m, f);
    b.dz = dz_at(0);
    b.wino_dw = true;
    kernel_grad_chunk(b, 0, n);
  }
  for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
    const std::size_t cs = std::min(chunk, n - s0);
    // dz = dL/dz for the chunk, from y and dL/dy: [cs * m, f].
    b.dz = dz_at(s0);
    if (!b.wino_dw_whole) {
      if (!b.fuse_act && !dz_is_dy)
        kernels::act_backward(b.act, out.data() + s0 * m * f, grad_out.data() + s0 * m * f,
                              dz_.data(), cs * m, f);
      kernel_grad_chunk(b, s0, cs);
    }
    if (gx) input_grad_chunk(b, s0, cs);
  }
  if (b.want_kernel) kernels::add_to(dkernel_.data(), k * f, b.kernel.grad);
  if (b.want_bias)
    for (std::size_t j = 0; j < f; ++j) b.bias->grad[j] += dbias_[j];
}

// The kernel flipped and its channels swapped, [3, 3, f, in_c], transformed for Winograd.
void Conv2D::prepare_winograd_input_grad() {
  const std::size_t c = geo_.c, f = filters_;
  const float* kernel = params()[0].value;
  flipped_.resize(9 * f * c);
  kernels::parallel_for(0, 9 * c, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) {
      const std::size_t tap = i / c, ci = i % c;
      const float* src = kernel + (8 - tap) * c * f + ci * f;
      for (std::size_t co = 0; co < f; ++co) flipped_[tap * f * c + co * c + ci] = src[co];
    }
  });
  if (!wino_back_) wino_back_ = std::make_unique<kernels::WinogradKernel>();
  const kernels::MatmulPrecisionScope precision(kWinogradPrecision);
  wino_back_->set(flipped_.data(), f, c);
}

// dkernel_ (the first chunk overwrites, later ones add in chunk order) and dbias_ for one chunk.
void Conv2D::kernel_grad_chunk(BackwardPass& b, std::size_t s0, std::size_t cs) {
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_, rows = cs * m;
  const float* dz = b.dz;
  // The col matrix of the chunk: kept by a training forward of this batch, or built again.
  const auto col_of = [&] {
    return b.kept ? col_.data() + s0 * m * k : chunk_col(b.x.data(), s0, cs, false);
  };
  if (b.small) {
    // dkernel[k, f] (+)= col^T * dz and dbias (+)= column sums of dz, over a fixed number of
    // row slices in parallel (fixed: the result must not depend on the thread count), each
    // slice's partial sums added in slice order. The col rows are the windows, read in x
    // (a 1x1 layer's col is x itself).
    const float* col = plan_.direct_col ? col_of() : nullptr;
    const float* y = b.fuse_act ? b.out.data() + s0 * m * f : nullptr;
    const float* d = b.fuse_act ? b.grad_out.data() + s0 * m * f : dz;
    const kernels::Act act = b.fuse_act ? b.act : kernels::Act::Linear;
    const std::size_t slices = rows >= kSplitRows * kSplits ? kSplits : 1,
                      in_size = numel(in_shape_);
    dpart_.assign(slices * k * f, 0.0f);
    dbpart_.assign(b.want_bias ? slices * f : 0, 0.0f);
    kernels::parallel_for(0, slices, [&](std::size_t sl) {
      const std::size_t r0 = rows * sl / slices, r1 = rows * (sl + 1) / slices;
      float* db = dpart_.data() + sl * k * f;
      float* dbias = b.want_bias ? dbpart_.data() + sl * f : nullptr;
      if (col) {
        kernels::small_k_weight_grad(act, col + r0 * k, y ? y + r0 * f : nullptr, d + r0 * f,
                                     r1 - r0, k, f, db, dbias);
        return;
      }
      for (std::size_t r = r0; r < r1;) {  // the slice's rows, sample by sample
        const std::size_t s = r / m, count = std::min(r1, (s + 1) * m) - r;
        kernels::small_k_conv_weight_grad(act, geo_, b.x.data() + (s0 + s) * in_size,
                                          y ? y + r * f : nullptr, d + r * f, r - s * m, count, f,
                                          db, dbias);
        r += count;
      }
    });
    if (s0 == 0) std::fill(dkernel_.begin(), dkernel_.end(), 0.0f);
    for (std::size_t sl = 0; sl < slices; ++sl) {
      kernels::add_to(dpart_.data() + sl * k * f, k * f, dkernel_.data());
      if (b.want_bias) kernels::add_to(dbpart_.data() + sl * f, f, dbias_.data());
    }
    return;  // the bias gradient came with it
  }
  if (b.wino_dw) {
    const kernels::MatmulPrecisionScope precision(kWinogradPrecision);
    if (s0 != 0) dpart_.resize(k * f);
    kernels::winograd_kernel_grad(geo_, cs, b.x.data() + s0 * numel(in_shape_), dz, f,
                                  s0 == 0 ? dkernel_.data() : dpart_.data(), winograd_scratch());
    if (s0 != 0) kernels::add_to(dpart_.data(), k * f, dkernel_.data());
  } else if (b.want_kernel) {
    // dkernel[k, f] (+)= col^T[k, rows] * dz[rows, f].
    const float* col = col_of();
    if (k * f <= kSmallKernel && rows >= kSplitRows * kSplits) {
      // A small kernel matrix (a first layer: k = 9 or 27) is one or two GEMM tiles, so the
      // GEMM runs it on one thread however long the sum over rows. Split the rows into a fixed
      // number of slices instead (fixed: the result must not depend on the thread count), one
      // GEMM per slice in parallel, and add the partial sums in slice order.
      dpart_.resize(kSplits * k * f);
      kernels::parallel_for(0, kSplits, [&](std::size_t sl) {
        const std::size_t r0 = rows * sl / kSplits, r1 = rows * (sl + 1) / kSplits;
        kernels::gemm(Trans::Yes, Trans::No, k, f, r1 - r0, 1.0f, col + r0 * k, k, dz + r0 * f, f,
                      0.0f, dpart_.data() + sl * k * f, f);
      });
      if (s0 == 0) std::fill(dkernel_.begin(), dkernel_.end(), 0.0f);
      for (std::size_t sl = 0; sl < kSplits; ++sl)
        kernels::add_to(dpart_.data() + sl * k * f, k * f, dkernel_.data());
    } else {
      kernels::gemm(Trans::Yes, Trans::No, k, f, rows, 1.0f, col, k, dz, f, s0 == 0 ? 0.0f : 1.0f,
                    dkernel_.data(), f);
    }
  }
  if (b.want_bias) kernels::sum_rows_add(dz, rows, f, dbias_.data());
}

// dL/dx of one chunk, added into gx (or written, when this layer zeroes gx itself).
void Conv2D::input_grad_chunk(BackwardPass& b, std::size_t s0, std::size_t cs) {
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_, rows = cs * m;
  const std::size_t in_size = numel(in_shape_);
  const float* dz = b.dz;
  float* g = b.gx->data() + s0 * in_size;
  if (b.wino_dx) {
    const kernels::MatmulPrecisionScope precision(kWinogradPrecision);
    float* d = b.unzeroed ? g : dx_.data();
    kernels::winograd_conv3x3(plan_.back, cs, dz, *wino_back_, nullptr, kernels::Act::Linear, d,
                              winograd_scratch());
    if (!b.unzeroed)
      kernels::parallel_for(0, cs, [&](std::size_t j) {
        kernels::add_to(d + j * in_size, in_size, g + j * in_size);
      });
    return;
  }
  // dcol[rows, k] = dz[rows, f] * kernel^T[f, k]; col2im scatters it back onto the input.
  float* dcol = dcol_.data();
  kernels::gemm(Trans::No, Trans::Yes, rows, k, f, 1.0f, dz, f, b.kernel.value, f, 0.0f, dcol, k);
  if (plan_.direct_col) {
    // 1x1: dcol is dL/dx itself.
    if (b.unzeroed)
      std::copy(dcol, dcol + rows * k, g);
    else
      kernels::add_to(dcol, rows * k, g);
    return;
  }
  float* dx = dx_.data();
  kernels::parallel_for(0, cs, [&](std::size_t j) {
    // A buffer this layer fills first takes the sums directly; otherwise they are summed in
    // scratch and added once (one value added per element).
    float* d = b.unzeroed ? g + j * in_size : dx + j * in_size;
    std::fill(d, d + in_size, 0.0f);
    kernels::col2im_add(geo_, dcol + j * m * k, d);
    if (!b.unzeroed) kernels::add_to(d, in_size, g + j * in_size);
  });
}

}  // namespace cnn
