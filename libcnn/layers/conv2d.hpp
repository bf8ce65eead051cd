// Conv2D: 2-D convolution over NHWC images with Keras semantics, computed as im2col followed by
// one GEMM per chunk of samples (as many samples as fit a scratch budget, see conv2d.cpp); 1x1
// stride-1 unpadded convolutions skip im2col (the NHWC input is the col matrix); 3x3 stride-1
// layers with 16+ channels run Winograd F(4x4,3x3) forward and for both gradients. Which of
// these a layer uses is decided once, from its shapes, when they are bound (infer_shape: the
// Plan); forward and backward dispatch on it.
//
// Formula, per sample, output (oy, ox, f):
//   z = bias[f] + sum over (ky, kx, ci) of
//         x[oy * stride_h + ky * dil_h - pad_top, ox * stride_w + kx * dil_w - pad_left, ci]
//         * kernel[ky, kx, ci, f]          (taps outside the input read 0)
//   y = activation(z)
//
// JSON keys (Keras defaults):
//   filters             required, >= 1
//   kernel_size         required, int or [kh, kw]
//   strides             1, int or [sh, sw]
//   padding             "valid" | "same" ("valid"). "same" is TensorFlow's: out = ceil(in /
//                       stride) and the odd padding cell goes to the bottom/right.
//   dilation_rate       1, int or [dh, dw]; strides > 1 together with dilation > 1 is refused,
//                       as Keras refuses it
//   activation          "linear" (kernels::act_names())
//   use_bias            true
//   kernel_initializer  "glorot_uniform" (init_names())
//   bias_initializer    "zeros"
//   quantization        absent, or {"input_scale": s, "input_zero_point": z}: int8 inference,
//                       windows read in place (kernels::qconv) or by im2col
//                       (layers/quantized.hpp), set by cnn-quantize
//
// Shapes: input [h, w, in_c] -> output [out_h, out_w, filters], with out_h/out_w from
// kernels::window_1d (valid: (in - (k - 1) * dilation - 1) / stride + 1; same: ceil(in /
// stride)). A valid convolution whose output would be below 1x1 is a ShapeError.
// Parameters: kernel [kh, kw, in_c, filters], bias [filters] (only when use_bias).
//
// Forward keeps nothing for backward: backward rebuilds the im2col matrix from the input and
// takes the activation derivative from the output y. Scratch buffers are members, so repeated
// calls with the same batch shape do not allocate.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "kernels/activation.hpp"
#include "kernels/im2col.hpp"
#include "kernels/window.hpp"
#include "kernels/winograd.hpp"
#include "layers/base_pooling2d.hpp"
#include "layers/layer.hpp"
#include "layers/quantized.hpp"
#include "layers/spatial_common.hpp"
#include "tensor/aligned.hpp"

namespace cnn {

class Conv2D final : public Layer {
 public:
  std::string type() const override { return "Conv2D"; }
  std::optional<kernels::Act> activation() const override { return activation_; }
  void set_activation(kernels::Act a) override { activation_ = a; }

  // Throws ConfigError naming the layer and the key.
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  // [h, w, in_c] -> [out_h, out_w, filters]; declares kernel (and bias). Throws ShapeError.
  Shape infer_shape(const std::vector<Shape>& inputs) override;

  // in[0]: [n, h, w, in_c]; out: [n, out_h, out_w, filters].
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  // Adds dL/dx into *grad_in[0] (when set) and dL/dkernel, dL/dbias into the parameter grads.
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

  // The im2col scratch budget per chunk of samples, in bytes, for every Conv2D (default 4 MiB).
  // For tests, to force several chunks (and a last, shorter one) on small inputs.
  static void set_chunk_budget(std::size_t bytes);
  // Whether forward() uses Winograd F(4x4,3x3) (kernels/winograd.hpp) for 3x3 stride-1
  // undilated layers with at least kWinogradMinChannels input and output channels: on by
  // default; off with set_winograd(false) or CNN_WINOGRAD=0 at start-up. Backward computes the
  // input gradient with it too (a 3x3 stride-1 convolution of dz), and the kernel gradient
  // where a chunk of samples has kWinogradGradTiles tiles or more (conv2d.cpp).
  static void set_winograd(bool enabled);
  static bool winograd_enabled();
  // How many times forward() has transformed the kernel for Winograd (tests).
  std::uint64_t kernel_transforms() const { return kernel_transforms_; }
  static constexpr std::size_t kWinogradMinChannels = 16;
  // Whether forward() runs by Winograd in float (its shapes qualify and Winograd is on).
  bool uses_winograd() const { return winograd_forward(); }
  // Whether its product is thin (kh * kw * in_c <= kernels::kSmallK): broadcast-FMA rows in
  // float, fused with a pooling layer after it.
  bool thin() const { return plan_.small_k; }
  const kernels::ConvGeometry& geometry() const { return geo_; }

  bool zeroes_grad_input() const override { return true; }
  bool takes_pre_activation_grad() const override { return true; }
  // The Winograd-transformed kernel (36 values for every 9 of the kernel) when forward uses it:
  // kept by the layer, or, in an output-only inference forward of a batch with enough tiles
  // (conv2d.cpp), made on every call in the scratch.
  std::size_t derived_bytes(std::size_t batch) const override;
  // Winograd's tile blocks, and the transformed kernel where it is made on every call.
  std::size_t scratch_bytes(std::size_t batch) const override;
  // [n, out_h, out_w, filters] * kh * kw * in_c.
  double forward_macs() const override;
  // A thin convolution (kh * kw * in_c <= kernels::kSmallK, the first layer of an image
  // network), whose output is large next to its work, runs fused with a pooling layer after it:
  // one sample at a time, the convolution's output of a sample is built in a scratch buffer
  // that stays in cache and pooled at once into out ([n, pool's output shape]).
  bool fuses_with(const Layer& next) const override;
  bool writes_quantized_output() const override;
  bool writes_strided_output() const override;
  detail::QuantizedInput* quantized_input(std::size_t n) override;
  bool feeds_product(const Layer& next) const override;
  bool runs_int8() const override;
  void forward_fused(Context& ctx, Inputs in, const Layer& next, Tensor& out) override;

 private:
  // What infer_shape decides once, from the shapes: the algorithm of each pass. Only the run-time
  // switches (Winograd on or off, the reference ISA) are read per call.
  struct Plan {
    bool direct_col = false;     // 1x1, stride 1, no padding: the input is its own col matrix
    bool small_k = false;        // kh * kw * in_c <= kernels::kSmallK: broadcast-FMA rows, no GEMM
    bool winograd = false;       // the forward qualifies for Winograd F(4x4,3x3)
    bool winograd_dx = false;    // and so does the input gradient, a convolution of dz:
    kernels::ConvGeometry back;  // of dz with the flipped kernel, padded by 2 - pad
  };
  // One backward call's choices and buffers (backward's steps share them).
  struct BackwardPass;

  // Whether an output-only inference forward of a batch of n (when by Winograd) transforms the
  // kernel on every call rather than keeping its own.
  bool transient_kernel(std::size_t n) const;
  // plan_.winograd / plan_.winograd_dx with the run-time switches.
  bool winograd_forward() const;
  bool winograd_input_grad() const;
  // Samples per chunk for a batch of n: im2col and dz scratch, or dz alone without im2col.
  std::size_t chunk_samples(std::size_t n, bool im2col = true) const;
  const float* chunk_col(const float* x, std::size_t s0, std::size_t cs, bool keep);
  // The forward paths: Winograd, or im2col (or the input itself) + GEMM or small-k rows.
  void forward_winograd(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out);
  void forward_gemm(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out);
  // Int8 (quantized.hpp): the windows read in place (int8_direct), or im2col (or the input
  // itself), then the quantized product. With pool (by im2col only: forward_fused), each chunk
  // of samples' output is made in scratch and pooled into out there.
  void forward_int8(const Context& ctx, const Tensor& x, kernels::Act act, Tensor& out,
                    const detail::Pool2D* pool = nullptr);
  // Whether forward takes the int8 path: quantized, output-only inference, int8 switched on.
  bool int8_forward(const Context& ctx) const;
  // Whether the int8 path reads its windows in place (kernels::qconv_fits), and then the int8
  // forward fused with a pooling layer: bands of output rows, each pooled while in cache.
  bool int8_direct() const;
  // Whether qx_ holds this batch's input already, written by the layer before (quantized_input);
  // either way the next forward quantizes again unless handed it anew.
  bool take_quantized_input(std::size_t n);
  // The int8 paths that read their windows in place (int8_direct): the quantized kernel made
  // ready, and x quantized into qx_ (padded) unless the layer before wrote it there.
  void quantize_direct_input(const Context& ctx, const Tensor& x);
  // Whether a fused forward pools inside the product (kernels::qconv_pool2_rows in int8,
  // kernels::small_k_conv_pool2 for a thin float layer): a 2x2 / 2 max pooling without padding
  // after a relu or linear convolution.
  bool pools_2x2(const detail::Pool2D& pool, kernels::Act act) const;
  void forward_int8_pooled(const Context& ctx, const Tensor& x, kernels::Act act,
                           const detail::Pool2D& pool, Tensor& out);
  // Context::quantized_output when this layer's pooled output (pg) is that input, else null.
  // Whether this layer can take its input's channels part by part (feeds_product's `next`): a
  // 1x1 convolution with stride 1 in float, by its GEMM, on at most kernels::kGemmOneBlock
  // channels (its sums then continue from part to part in the GEMM's order).
  bool takes_product_parts() const;
  // forward_fused as a part of a Concatenate read by next (Context::product_part).
  void forward_product(const Context& ctx, const Tensor& x, const Conv2D& next,
                       const Context::ProductPart& part, Tensor& out);
  // next's side of forward_product: out's rows [rows, filters] continue their sums (first:
  // start them) with the product of a band [rows, channels] of its input's channels [channel,
  // channel + channels) and those rows of the kernel; last: then the bias and the activation.
  void add_product(const float* band, std::size_t rows, std::size_t channels,
                   const Context::ProductPart& part, float* out) const;
  detail::QuantizedInput* quantized_sink(const Context& ctx, std::size_t n,
                                         const kernels::PoolGeometry& pg) const;
  // Backward's steps for the chunk of samples [s0, s0 + cs): dz from the output gradient, the
  // kernel and bias gradients (small-k rows, Winograd, or GEMM), the input gradient (Winograd,
  // or GEMM and col2im).
  void kernel_grad_chunk(BackwardPass& b, std::size_t s0, std::size_t cs);
  void input_grad_chunk(BackwardPass& b, std::size_t s0, std::size_t cs);
  void prepare_winograd_input_grad();

  // Configuration.
  std::size_t filters_ = 0;
  detail::Pair kernel_size_{1, 1}, strides_{1, 1}, dilation_{1, 1};
  kernels::Padding padding_ = kernels::Padding::Valid;
  kernels::Act activation_ = kernels::Act::Linear;
  bool use_bias_ = true;
  Init kernel_init_ = Init::GlorotUniform;
  Init bias_init_ = Init::Zeros;
  std::optional<detail::QuantConfig> quant_;
  std::unique_ptr<detail::QuantizedProduct> qprod_;
  AlignedVector<std::uint8_t> qx_, qcol_;  // forward_int8: the quantized input and col matrix

  // From infer_shape.
  Shape in_shape_, out_shape_;
  kernels::ConvGeometry geo_;
  Plan plan_;

  // Scratch, for a chunk of cs samples: col_/dcol_ [cs * out_h * out_w, kh * kw * in_c],
  // dz_ [cs * out_h * out_w, filters], dx_ [cs, h, w, in_c], dkernel_ [kh * kw * in_c, filters],
  // dbias_ [filters]. Gradients are
  // summed here and added to their destination once, so that backward adds exactly one value
  // per element (two calls give exactly twice one call).
  // dpart_ [slices, kh * kw * in_c, filters], dbpart_ [slices, filters]: partial weight and bias
  // gradients of a small kernel, one per row slice.
  AlignedVector<float> col_, dcol_, dz_, dx_, dkernel_, dbias_, dpart_, dbpart_;
  // Set when col_ holds the col matrix of a whole batch of this many samples, from a training
  // forward (kKeepColBytes in conv2d.cpp); backward then reads it instead of building it again.
  std::optional<std::size_t> kept_col_batch_;
  // A convolution's output made to be pooled right away (forward_fused): per task, a band of
  // rows (float thin layers, forward_int8_pooled), or a chunk of samples (forward_int8).
  AlignedVector<float> fused_;
  // quantized_input: qx_ as handed to the layer before, for the next forward.
  std::unique_ptr<detail::QuantizedInput> qin_;
  // Winograd: the transformed kernel, made from the kernel at wino_source_ when the model's
  // parameters had version wino_version_ (0: unknown, e.g. a layer run on its own; then
  // wino_kernel_ holds the values it was made from, to compare); for the input gradient the
  // same of the flipped kernel (flipped_, [3, 3, filters, in_c]).
  std::unique_ptr<kernels::WinogradKernel> wino_, wino_back_;
  const float* wino_source_ = nullptr;
  std::uint64_t wino_version_ = 0;
  AlignedVector<float> wino_kernel_, flipped_;
  std::uint64_t kernel_transforms_ = 0;
};

}  // namespace cnn
