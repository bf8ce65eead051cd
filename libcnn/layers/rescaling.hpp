// Rescaling: Keras's preprocessing layer y = x * scale + offset, element-wise; scale and offset
// are one number each or one number per channel (the last axis), as Keras broadcasts them.
// Typical use: scale 1/255 to take 0..255 pixels to 0..1, or scale 1/127.5 with offset -1 for
// -1..1.
//
// Keys: scale (required; a number or a list of one per channel), offset (default 0.0; the same
// forms). write_config writes a number when all channels share one value, else the list.
//
// Shapes: any -> the same. Params: none.
// Forward: y = x * scale[c] + offset[c] for channel c = the index along the last axis; keeps
// nothing. Backward: dx += dy * scale[c].
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace cnn {

class Rescaling : public Layer {
 public:
  std::string type() const override { return "Rescaling"; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  // Throws ShapeError when a per-channel list does not match the last axis.
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  std::vector<double> scale_, offset_;     // as configured: one value, or one per channel
  std::vector<float> scale_c_, offset_c_;  // one per channel, after infer_shape
};

}  // namespace cnn
