// The layer contract: every layer type (Conv2D, Dense, ...) implements this interface in its own
// <snake_type>.hpp/.cpp pair and is listed once in registry.cpp.
//
// Lifecycle (driven by the model, or by a test harness):
//   configure(cfg)        read the layer's own JSON keys (Keras names and defaults), reject others
//   infer_shape(inputs)   per-sample input shapes (no batch) -> output shape; declares parameters
//                         with add_param(); throws ShapeError naming the layer
//   bind params           the owner points every Param's value/grad into its arenas
//   forward / backward    on batch tensors
//
// backward() ADDS into grad_inputs and into parameter gradients; it never overwrites them. The
// owner zeroes gradients once per step. This makes skip connections (a tensor read twice),
// branches and gradient accumulation work with no special cases.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernels/activation.hpp"
#include "tensor/config.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace cnn {
namespace detail {
struct QuantizedInput;  // layers/quantized.hpp
}

// How a parameter is initialised (Keras initializer names).
enum class Init { Zeros, Ones, GlorotUniform, GlorotNormal, HeNormal, HeUniform };
// Keras name <-> Init; parse throws ConfigError via the reader.
const std::vector<std::string>& init_names();
Init init_from_name(const std::string& name);
std::string init_name(Init init);
// Fills data (shape gives fan-in/fan-out as Keras computes them) from rng.
void init_fill(Init init, const Shape& shape, float* data, Rng& rng);

// A parameter of a layer: Keras name ("kernel", "bias", "gamma", "moving_mean"), Keras layout
// (Conv2D kernel [kh, kw, in, out], Dense kernel [in, out]). value/grad point into the owner's
// arenas; grad is nullptr for parameters that are never trained (moving statistics).
struct Param {
  std::string name;
  Shape shape;
  Init init = Init::Zeros;
  bool trainable = true;  // false for statistics updated in forward, not by gradients
  float* value = nullptr;
  float* grad = nullptr;
  std::size_t size() const { return numel(shape); }
};

// Per-call state: training vs inference, and the only source of randomness.
struct Context {
  bool training = false;
  Rng* rng = nullptr;
  // Inference only, for callers that read only the model's output (cnn-eval, feature
  // extraction, validation): Model::forward keeps no other layer's output. It runs a thin
  // convolution together with the pooling layer that alone reads it, one sample at a time in
  // cache, and it places the outputs in one buffer planned once per batch size, where an output
  // takes the memory of those no later layer reads (Model::plan_inference_memory).
  // Model::output_of then refuses every layer but the last, and backward refuses to run.
  bool output_only = false;
  // Set by Model::forward for an output-only inference pass: memory for this call's scratch, the
  // layer's scratch_bytes(batch) bytes, 64-byte aligned, placed in the planned buffer where no
  // output alive at this step is; null otherwise (the layer then uses memory of its own).
  void* scratch = nullptr;
  // Backward only, set by Model for one call of a layer whose zeroes_grad_input() is true: the
  // buffer *grad_in[0] has not been zeroed and this layer is the first to add into it, so the
  // layer zeroes it itself (one sample at a time, in the pass that adds: no separate pass over
  // memory).
  bool grad_in_unzeroed = false;
  // Backward only, set by Model (backward(), not backward_from(): grad_of must stay dL/dy) for
  // one call of a layer whose masks_relu_grad_input() is true, whose input is the output of a
  // relu layer that it alone reads and that takes its gradient before the relu
  // (takes_pre_activation_grad): the layer gives that input's cells that are 0 (the relu cut
  // them) a gradient of 0, so that what it writes is dL/d(the relu's input).
  bool relu_grad_in = false;
  // Backward only, set by Model for that relu layer's call: grad_out is already dL/d(its
  // pre-activation), so its activation's backward is skipped.
  bool grad_out_pre_activation = false;
  // Forward and backward of a model whose loss is computed from logits (the Trainer, for a
  // softmax or sigmoid output under cross-entropy): the model's output node skips its fused
  // activation, so that its output is the logits and the loss is a stage of its own. Model
  // passes it to the output node alone; layers read it through Layer::act_for.
  bool logits = false;
  // Set by Model::forward: its parameters' version (Model::params_version), which changes
  // whenever they may have been written. A layer may keep what it derives from its parameters
  // (Conv2D's Winograd kernel) while the version stays the same. 0: unknown (a layer run on
  // its own), so such caches must compare the values.
  std::uint64_t params_version = 0;
  // Set by Model::forward around a fused forward (forward_fused) whose output only the next
  // node reads, when that node is an int8 convolution reading its windows in place
  // (Layer::quantized_input): where to write that output quantized as the next node reads it,
  // and then nothing else. A layer that does sets its `filled`; one that does not writes its
  // output as usual, and the next node quantizes it itself.
  detail::QuantizedInput* quantized_output = nullptr;
  // Set by Model::forward for an output-only inference pass around the forward of a layer
  // whose output only a Concatenate reads (Layer::writes_strided_output): the output is that
  // layer's slice of the Concatenate's channels, its rows (pixels) output_ldy floats apart,
  // and `out` starts at the slice's first value. 0: the output's rows are packed.
  std::size_t output_ldy = 0;
  // Set by Model::forward for an output-only inference pass around the forward_fused of a part
  // of a Concatenate whose channels a pixel-wise product alone reads (Model::product_concat):
  // where the part's channels start in that product's input, and whether the part is the first
  // of them to run (it writes the sums) and the last (it adds the bias, applies the activation).
  struct ProductPart {
    std::size_t channel = 0;
    bool first = false, last = false;
  };
  const ProductPart* product_part = nullptr;
  // Backward only: called by Model with a node's index as soon as that node's backward is done
  // (its parameter gradients are then final), in backward's order (data-parallel training
  // starts summing them over the processes while the earlier layers run).
  std::function<void(std::size_t)> after_node_backward = nullptr;
  // Training only, data-parallel with statistics shared (cnn-train --sync-bn): sums n doubles
  // over the job's processes in place, the same bits on every process. BatchNormalization then
  // normalises with the whole batch's statistics, not this process's part's.
  std::function<void(double*, std::size_t)> sum_over_processes = nullptr;
};

using Inputs = std::span<const Tensor* const>;
using GradInputs = std::span<Tensor* const>;

class Layer {
 public:
  virtual ~Layer() = default;

  // The Keras class name; also the JSON "type" and the registry key.
  virtual std::string type() const = 0;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  // A frozen layer (trainable = false) gets no parameter gradients; BatchNormalization then
  // also uses its moving statistics, as Keras does.
  bool trainable() const { return trainable_; }
  void set_trainable(bool t) { trainable_ = t; }

  // Number of inputs accepted: [min_inputs, max_inputs].
  virtual std::size_t min_inputs() const { return 1; }
  virtual std::size_t max_inputs() const { return 1; }

  // Reads the layer's own keys (not type/name/inputs/trainable, which the model reads).
  virtual void configure(ConfigReader& cfg) = 0;
  // Writes the layer's own keys, defaults included, so that configure(to_config()) round-trips.
  virtual void write_config(json_ordered& out) const = 0;

  // Per-sample shapes in, per-sample shape out. Called once; declares parameters.
  virtual Shape infer_shape(const std::vector<Shape>& inputs) = 0;

  // The activation fused into the layer's output (Conv2D, Dense, Activation), if it has one.
  // Training computes the cross-entropy of a final sigmoid/softmax from the logits, which is
  // stable where log(softmax) would underflow (as Keras/TF do): Context::logits stops the
  // output node before this activation.
  virtual std::optional<kernels::Act> activation() const { return std::nullopt; }
  // Replaces the fused activation; only called when activation() has a value.
  virtual void set_activation(kernels::Act) {}

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  std::size_t param_count() const;

  // in: batch tensors [n, ...input shape]; out is already shaped [n, ...output shape] by the
  // caller and must be fully written. Keeps what backward needs only when ctx.training.
  virtual void forward(Context& ctx, Inputs in, Tensor& out) = 0;
  // grad_out has out's shape; adds dL/d(input i) into *grad_in[i] (nullptr: not needed) and
  // dL/d(param) into param.grad (when trainable() and param.grad is set).
  virtual void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                        GradInputs grad_in) = 0;
  // Whether backward honours Context::grad_in_unzeroed (one-input layers only).
  virtual bool zeroes_grad_input() const { return false; }
  // Whether backward honours Context::relu_grad_in (one-input layers only): max pooling, whose
  // output is its winning input cell, so a window's gradient is cut where its output is 0.
  virtual bool masks_relu_grad_input() const { return false; }
  // Whether backward honours Context::grad_out_pre_activation.
  virtual bool takes_pre_activation_grad() const { return false; }

  // Hooks the model and the training loop call without knowing layer types.
  // Multiply-adds of one sample's forward pass through the weights (cnn-summary --time's
  // GFLOP/s), after infer_shape; 0 for layers without weights to multiply.
  virtual double forward_macs() const { return 0.0; }
  // Bytes an output-only inference forward of a batch keeps from one call to the next, derived
  // from the parameters (Conv2D's Winograd-transformed kernel): cnn-summary --memory.
  virtual std::size_t derived_bytes(std::size_t /*batch*/) const { return 0; }
  // Bytes of scratch an output-only inference forward of a batch takes from the planned buffer
  // (Context::scratch) instead of memory of its own, when the model gives it (Conv2D: Winograd's
  // tile blocks, and the transformed kernel where it is made on every call).
  virtual std::size_t scratch_bytes(std::size_t /*batch*/) const { return 0; }
  // Inference: whether forward_fused can run this layer together with `next`, which reads only
  // this layer's output (Model::forward with Context::output_only), and that forward: next's output
  // into out, this layer's own output never written. The values equal forward then
  // next.forward.
  virtual bool fuses_with(const Layer& /*next*/) const { return false; }
  // Output-only inference: whether forward_fused can write Context::quantized_output; and, for
  // the layer after, where its input may be written already quantized for a batch of n (made
  // ready: sized, its padding written), or null. The values are the same as if the layer
  // quantized its float input itself.
  virtual bool writes_quantized_output() const { return false; }
  // Whether forward honours Context::output_ldy: writes its output rows that far apart, into
  // a slice of a Concatenate's output, which then has nothing to copy.
  virtual bool writes_strided_output() const { return false; }
  // Whether forward outside training copies its one input unchanged (Dropout, Flatten: NHWC
  // flattened is the same values in the same order). An output-only inference then gives the
  // output the input's memory and skips the step (Model::aliases_input).
  virtual bool copies_input_in_inference() const { return false; }
  virtual detail::QuantizedInput* quantized_input(std::size_t /*n*/) { return nullptr; }
  // Output-only inference: whether forward_fused can run this layer as a part of a Concatenate
  // that `next` alone reads, next multiplying each pixel's channels by a kernel (a 1x1 Conv2D
  // in float): with Context::product_part set, this layer's output, made a band of rows at a
  // time in cache, is multiplied by next's kernel rows for its channels and added into next's
  // output (out), its sums continued part by part in the order its GEMM sums them. The
  // Concatenate's output is never made. The values equal forward, the Concatenate's, then
  // next.forward, bitwise.
  virtual bool feeds_product(const Layer& /*next*/) const { return false; }
  // Whether an output-only inference forward runs int8 products now (a quantized Conv2D, int8
  // switched on).
  virtual bool runs_int8() const { return false; }
  virtual void forward_fused(Context& ctx, Inputs in, const Layer& next, Tensor& out);
  // Layers that keep running statistics of their inputs in training (BatchNormalization):
  // whether this one does, and a momentum that replaces the configured one in training
  // forwards while set (nullopt: the configured one again). Re-estimating the statistics for
  // fixed weights sets (k - 1) / k before the k-th batch, so that they become the plain average
  // of k batches' statistics (PyTorch's update_bn).
  virtual bool has_running_statistics() const { return false; }
  virtual void set_statistics_momentum(std::optional<double> /*momentum*/) {}

 protected:
  Param& add_param(std::string name, Shape shape, Init init, bool trainable = true);
  // Whether parameter gradients are wanted in this backward call.
  bool wants_param_grads() const { return trainable_; }
  // The activation a layer with a fused one applies in this call: `configured`, or linear when
  // the call wants logits (Context::logits).
  static kernels::Act act_for(const Context& ctx, kernels::Act configured) {
    return ctx.logits ? kernels::Act::Linear : configured;
  }
  // ShapeError helper: "layer 'name' (Type): problem".
  ShapeError shape_error(const std::string& problem) const;

 private:
  std::string name_;
  bool trainable_ = true;
  std::vector<Param> params_;
};

}  // namespace cnn
