// Permute: reorders the axes of each sample (Keras's Permute). dims is a permutation of 1..rank
// (the batch axis, 0, never moves): output axis i is input axis dims[i]. Permute([3, 1, 2]) takes
// a channels-last image [h, w, c] to channels-first [c, h, w], which is how a model imported
// from ONNX gives an image or a flattened image at its output in the source model's (NCHW)
// element order.
//
// Keys: dims (required; a list of rank distinct ints 1..rank, rank = the input's rank, at most 3).
// Shapes: [d1, ..., dr] -> [d_dims[0], ..., d_dims[r-1]]. Params: none. Forward keeps nothing.
// Backward: dx += dy with the axes put back.
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace cnn {

class Permute final : public Layer {
 public:
  std::string type() const override { return "Permute"; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

  // The permutation, 0-based over the sample's axes (dims - 1).
  const std::vector<std::size_t>& axes() const { return axes_; }

 private:
  // For each output element in order, the offset of its input element within a sample.
  std::vector<std::size_t> source_;
  std::vector<std::size_t> axes_;
};

}  // namespace cnn
