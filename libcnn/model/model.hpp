// A model: a DAG of named layers built from architecture JSON (DESIGN.md), with one contiguous
// parameter arena and one gradient arena (zeroing and optimizer steps are flat loops), and
// activation buffers planned once per batch size.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layers/layer.hpp"

namespace cnn {

// Image preprocessing a model declares ("preprocessing" in the architecture JSON), so that users
// of a pretrained network need not remember it. A model that declares it takes raw pixel values
// p (0..255, channels in RGB order as decoded) and its first step computes
//   x[c] = (p[order(c)] * rescale - mean[c]) / std[c]
// where order swaps RGB to BGR for channel_order "bgr". Datasets feed such a model raw pixels
// (see train::dataset_options).
struct Preprocessing {
  float rescale = 1.0f;
  std::vector<float> mean, std;  // empty (0 and 1), or one value per input channel
  bool bgr = false;              // channel_order "bgr" (3-channel inputs only)
  std::string interpolation;     // resize filter for photos ("nearest", "bilinear"); "" = unset

  // Whether apply() changes nothing (rescale 1, no mean/std, RGB order).
  bool is_identity() const;

  // The per-channel affine map apply() computes after the channel reordering:
  // x[c] = p * scale[c] + shift[c], scale = rescale / std, shift = -mean / std (exporters).
  void affine(std::size_t c, std::vector<float>& scale, std::vector<float>& shift) const;
  // out[i * c + k] from in (pixels x c values, HWC); in and out may be the same.
  void apply(const float* in, float* out, std::size_t pixels, std::size_t c) const;
  // The adjoint: dL/dp from dL/dx (added into grad_in).
  void backward_add(const float* grad_out, float* grad_in, std::size_t pixels, std::size_t c) const;
};

// Wall-clock seconds per node (execution order), added to by forward() and backward() while a
// Model has it set (cnn-summary --time).
struct LayerTimes {
  std::vector<double> forward_s, backward_s;
};

namespace detail {
// The parameter arenas' allocator: memory from calloc, elements left as calloc gives them (zero)
// instead of written, so that an arena nobody touches (cnn-summary of a large model) takes
// address space, not resident memory.
template <class T>
struct ZeroedAllocator {
  using value_type = T;
  ZeroedAllocator() = default;
  template <class U>
  ZeroedAllocator(const ZeroedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    void* p = std::calloc(n ? n : 1, sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  void construct(U*) noexcept {}  // value-initialisation: calloc's zero already is
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
  template <class U>
  bool operator==(const ZeroedAllocator<U>&) const noexcept {
    return true;
  }
};
using ParamArena = std::vector<float, ZeroedAllocator<float>>;
}  // namespace detail

class Model {
 public:
  // Index used in Node::inputs for the model's input tensor.
  static constexpr std::size_t kModelInput = static_cast<std::size_t>(-1);

  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<std::size_t> inputs;  // node indices (earlier in order) or kModelInput
    Shape out_shape;                  // per sample
    std::size_t json_index = 0;       // position in the architecture's "layers" list
  };

  // A parameter with its stored name "<layer>.<param>".
  struct NamedParam {
    std::string name;
    Layer* layer;
    Param* param;
  };

  // Builds and validates a model from architecture JSON; `file` names it in errors. Throws
  // ConfigError (file, JSON pointer, layer, problem) for every malformed architecture, including
  // shape mismatches found by shape inference. Parameters are allocated but not initialised.
  static Model from_json(const json& arch, const std::string& file);

  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  // The architecture JSON (every layer with its name and all its keys, defaults included);
  // from_json(to_json()) rebuilds the same model.
  json_ordered to_json() const;

  const std::string& name() const { return name_; }
  const std::string& input_name() const { return input_name_; }
  const Shape& input_shape() const { return input_shape_; }
  // The declared input preprocessing, if any (applied inside forward(); see Preprocessing).
  const std::optional<Preprocessing>& preprocessing() const { return preprocessing_; }
  // Declares (or, with nullopt, removes) it; to_json() writes it. Throws ConfigError when its
  // per-channel lists do not match the input channels.
  void set_preprocessing(std::optional<Preprocessing> p);
  const Shape& output_shape() const { return nodes_.back().out_shape; }

  // Nodes in execution (topological) order; the last one is the model's output.
  std::size_t size() const { return nodes_.size(); }
  const Node& node(std::size_t i) const { return nodes_.at(i); }
  // A layer to change, which may write its parameters: counts as a write (params_changed).
  Layer& layer(std::size_t i) {
    params_changed();
    return *nodes_.at(i).layer;
  }
  const Layer& layer(std::size_t i) const { return *nodes_.at(i).layer; }
  std::optional<std::size_t> find(const std::string& layer_name) const;
  // Whether every layer reads exactly the previous one (printed Keras-Sequential style).
  bool is_sequential() const;

  // Parameters, in node order then the layer's own order. Counts as a write (params_changed).
  std::vector<NamedParam> named_params();
  std::size_t param_count() const;
  // Parameters that receive gradients: trainable kinds in trainable layers.
  std::size_t trainable_param_count() const;
  std::size_t layer_trainable_param_count(std::size_t i) const;
  // The arenas (size param_count()). The mutable values() counts as a write (params_changed).
  float* values() {
    params_changed();
    return values_.data();
  }
  const float* values() const { return values_.data(); }
  float* grads() { return grads_.data(); }
  std::size_t arena_size() const { return values_.size(); }

  // Freezes or unfreezes a layer (no parameter gradients; BatchNormalization uses moving stats).
  void set_trainable(std::size_t i, bool trainable);

  // The parameters' version: it changes with every call that can write them (the mutable
  // values(), named_params() and layer(), init_params(), weights loaded by io), so that layers
  // may keep what they derive from their parameters until it changes (Context::params_version).
  // Who writes through a pointer obtained before a forward() must call params_changed() after
  // writing. With CNN_CHECK_PARAMS_VERSION=1 in the environment, such caches also compare the
  // values and throw Error on a write the version missed (the test suite runs this way).
  std::uint64_t params_version() const { return params_version_; }
  void params_changed() { ++params_version_; }

  // Draws every parameter from its initialiser, in order, from rng.
  void init_params(Rng& rng);
  void zero_grads();

  // x: [n, ...input_shape]. Returns the output [n, ...output_shape]; every layer's output stays
  // available through output_of() until the next forward -- except in an inference forward with
  // ctx.output_only, which keeps the last layer's alone (Context::output_only).
  const Tensor& forward(Context& ctx, const Tensor& x);
  // Throws Error when the last forward did not keep node i's output (Context::output_only).
  const Tensor& output_of(std::size_t i) const;

  // Where an inference forward with Context::output_only puts the layers' outputs for a batch of
  // n: one buffer, in which each output has its place from the step that writes it to the last
  // step that reads it (the model's output: to the end), and outputs whose steps do not overlap
  // share memory. Places are given largest first, each at the lowest offset free for its steps
  // (the greedy-by-size planning of TensorFlow Lite's arena). A thin Conv2D that runs fused with
  // the pooling after it has no place (its output is never made). A Concatenate assembled in
  // place (concat_in_place) has its place from its first part's step, and each part is written
  // straight into its slice of it. A Dropout or Flatten shares its input's place
  // (aliases_input). A layer's scratch (Layer::scratch_bytes) has a place too,
  // alive at its own step only.
  struct MemoryPlan {
    struct Output {
      std::size_t bytes = 0;   // the output's values (0: fused, never made)
      std::size_t offset = 0;  // of its place in the buffer (a multiple of 64, but for a part)
      std::size_t first = 0;   // the step that writes it (steps are node indices)
      std::size_t last = 0;    // the last step that reads it (size() for the model's output)
      bool fused = false;
      bool assembled = false;  // a Concatenate whose parts are written in place: it copies nothing
      // A layer that would copy its input (aliases_input): the output whose place it shares,
      // alive as long as either is read.
      std::optional<std::size_t> alias_of;
      // A part of an assembled Concatenate: that node, and the floats between its rows (the
      // Concatenate's channels). Its place is its slice of the Concatenate's.
      std::optional<std::size_t> part_of;
      std::size_t ldy = 0;
      // A part of a Concatenate pooled part by part (pooled_concat): the pooling node it runs
      // with, part_of too. Its place is its channels of the pooling's output.
      std::optional<std::size_t> pooled_with;
      // A part of a Concatenate multiplied part by part (product_concat): the product's node,
      // which its step writes into. It has no place of its own (bytes 0).
      std::optional<std::size_t> product_of;
      std::size_t scratch_bytes = 0;   // the layer's scratch at its step (0: none)
      std::size_t scratch_offset = 0;  // of its place
    };
    std::size_t batch = 0;
    std::vector<Output> outputs;   // per node
    std::size_t buffer_bytes = 0;  // the planned buffer: the peak of the outputs' memory
    std::size_t kept_bytes = 0;    // every output kept, as training (and output_of) needs
    // The most bytes of outputs and scratch alive at one step: the least any placement needs.
    std::size_t live_peak_bytes = 0;
  };
  MemoryPlan plan_inference_memory(std::size_t n) const;
  // Backpropagates grad_output (the output's shape) after forward(ctx, x) with ctx.training.
  // Adds parameter gradients into the gradient arena; when grad_input is given it receives
  // dL/dx (overwritten). Layers upstream of which nothing is trainable are skipped.
  void backward(Context& ctx, const Tensor& x, const Tensor& grad_output,
                Tensor* grad_input = nullptr);
  // Backpropagates from an intermediate node (visualisation: a filter's activation, Grad-CAM):
  // after forward(ctx, x), grad_at (the shape of node `from`'s output) is dL/d(output of from),
  // and the backward of `from` and of every node it depends on runs (nodes after it do not).
  // Adds parameter gradients of trainable layers; grad_input, when given, receives dL/dx
  // (overwritten). Throws ShapeError when grad_at's shape is not that output's.
  void backward_from(Context& ctx, const Tensor& x, std::size_t from, const Tensor& grad_at,
                     Tensor* grad_input = nullptr);
  // dL/d(output of node i) from the last backward_from(), for `from` and the nodes it depends
  // on; valid until the next forward/backward. Throws Error for any other node.
  const Tensor& grad_of(std::size_t i) const;

  // Throws BudgetError when the layers' outputs for a batch of n (and, training, their
  // gradients) would take more than the memory budget (tensor/budget.hpp). forward() checks it;
  // callers that allocate batch-sized buffers of their own check it first.
  void check_activation_memory(std::size_t n, bool training) const;

  // Per-layer timing: while set, forward() and backward() add each node's seconds to *times
  // (resized to size()). nullptr turns it off.
  void set_layer_times(LayerTimes* times);

  // Whether an output-only forward runs node i together with node i + 1, a pooling layer, which
  // alone reads it (Layer::forward_fused; the time of both is then node i's).
  bool fusable(std::size_t i) const;
  // Whether an output-only forward assembles node i, a Concatenate, in place: each of its
  // inputs is a distinct layer that writes its rows strided (Layer::writes_strided_output) and
  // that nothing else reads, which then writes straight into its slice of node i's output.
  bool concat_in_place(std::size_t i) const;
  // Whether an output-only forward pools node i, a Concatenate assembled in place, part by
  // part: node i + 1, a pooling layer, alone reads it, and every part can run together with it
  // (Layer::forward_fused). Each part then writes its channels of node i + 1's output (pooling
  // acts on each channel alone), and neither node i nor node i + 1 has a step: the
  // Concatenate's output is never made.
  bool pooled_concat(std::size_t i) const;
  // Whether an output-only forward multiplies node i, a Concatenate assembled in place, part by
  // part: node i + 1, a 1x1 convolution in float that is not the model's output, alone reads
  // it, every part can run as its part (Layer::feeds_product), the parts run in the order of
  // their channels, and one of them runs int8 (the fusion is for int8 runs: float ones keep
  // their path). Each part then continues node i + 1's sums with the product of its channels,
  // made a band of rows at a time (Context::product_part), and neither node i nor node i + 1
  // has a step: the Concatenate's output is never made.
  bool product_concat(std::size_t i) const;
  // Whether an output-only forward gives node i's output its input's place and skips node i:
  // a layer that copies its input there (Layer::copies_input_in_inference: Dropout, Flatten),
  // whose input is another layer's output.
  bool aliases_input(std::size_t i) const;

 private:
  Model() = default;
  void allocate_params();
  std::vector<const Tensor*> gather_inputs(std::size_t i, const Tensor& x) const;
  // Whether node b alone reads node a's output, and a is not the model's output.
  bool only_reader(std::size_t a, std::size_t b) const;
  // Whether a node other than b reads node a's output.
  bool read_elsewhere(std::size_t a, std::size_t b) const;
  // forward(): runs node i into out, timed, fused with pool (Layer::forward_fused) when given.
  void run_step(Context& ctx, std::size_t i, const Tensor& input, const Layer* pool, Tensor& out);
  // The planned buffer of output_only forwards for a batch of n, with every output placed in it
  // (made once per batch size), or (drop_plan) every output back on its own heap memory.
  void use_plan(std::size_t n);
  void drop_plan();
  // backward() and backward_from(): the gradient grad_at at node from's output, back through
  // the nodes that feed it (all of them when every_ancestor, for grad_of; else only those on a
  // path to trainable parameters or to grad_input).
  void backprop(Context& ctx, const Tensor& x, std::size_t from, const Tensor& grad_at,
                Tensor* grad_input, bool every_ancestor);

  std::string name_ = "model";
  std::string input_name_ = "input_1";
  Shape input_shape_;
  std::optional<Preprocessing> preprocessing_;
  // Whether forward() transforms the input (a declared preprocessing that is not the identity).
  bool preprocess_input() const { return preprocessing_ && !preprocessing_->is_identity(); }
  std::vector<Node> nodes_;
  detail::ParamArena values_, grads_;  // zero until init_params() or a weights file
  // The planned buffer (use_plan) for a batch of planned_batch_: declared before acts_, which
  // may point into it, so that it outlives them.
  std::unique_ptr<TensorBuffer> plan_buffer_;
  std::optional<std::size_t> planned_batch_;
  std::pair<bool, bool> planned_paths_;   // int8 and Winograd switched on when it was made
  std::vector<void*> planned_scratch_;    // per node: its scratch in the planned buffer, or null
  std::vector<std::size_t> planned_ldy_;  // per node: Context::output_ldy for it (0: packed)
  // per node: the pooling node a pooled Concatenate's part runs with (0: none)
  std::vector<std::size_t> planned_pool_;
  // per node: the product node a multiplied Concatenate's part adds into (0: none)
  std::vector<std::size_t> planned_product_;
  std::vector<Tensor> acts_, act_grads_;
  LayerTimes* times_ = nullptr;
  std::uint64_t params_version_ = 1;
  Tensor pre_, pre_grad_;         // preprocessed input and its gradient (models with preprocessing)
  std::vector<bool> grad_ready_;  // grad_of(i) is valid (set by backward_from)
  std::vector<bool> kept_;        // node i's output is available from the last forward (output_of)
};

// Keras's default layer name stem for a class name: Conv2D -> conv2d, MaxPooling2D ->
// max_pooling2d, BatchNormalization -> batch_normalization.
std::string keras_snake_case(const std::string& class_name);

}  // namespace cnn
