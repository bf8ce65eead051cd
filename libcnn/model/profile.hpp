// A per-layer profile, like `caffe time`: forward and backward milliseconds of every layer of a
// model on random inputs of a given batch size, with the multiply-add work of the layers that do
// arithmetic (Conv2D, Dense) turned into GFLOP/s. For reading, never for asserting.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "tensor/rng.hpp"

namespace cnn {

struct LayerProfile {
  std::string name, type;
  double forward_ms = 0, backward_ms = 0;        // medians over the timed iterations
  double forward_flops = 0, backward_flops = 0;  // per batch; 0 for layers without arithmetic
  bool fused = false;  // inference: run inside the previous layer's forward (its time is there)
  // inference: no step of its own (a Concatenate whose inputs wrote its output, a Dropout or
  // Flatten that shares its input's place)
  bool in_place = false;
};

struct ModelProfile {
  std::string model;
  std::size_t batch = 0, iterations = 0, warmup = 0, threads = 1;
  bool backward = true;
  std::string precision = "fp32";          // the matrix products' (kernels::matmul_precision)
  std::vector<LayerProfile> layers;        // execution order
  double forward_ms = 0, backward_ms = 0;  // medians of the whole passes (not sums of medians)
};

struct ProfileOptions {
  std::size_t batch = 32;
  std::size_t iterations = 10;
  std::size_t warmup = 2;
  bool backward = true;  // time a training forward + backward (else the output-only inference
                         // forward cnn-eval runs: fused layers, int8 where quantized)
};

// FLOPs (2 per multiply-add) of one forward pass of node i for a batch of n, and of its
// backward (weight gradient, plus the input gradient unless the node reads only the model
// input, which training never differentiates). 0 for layers that only move or compare data.
double forward_flops(const Model& model, std::size_t i, std::size_t n);
double backward_flops(const Model& model, std::size_t i, std::size_t n);

// Runs warmup + iterations passes on random inputs (uniform [0, 1), drawn from rng) and random
// output gradients; parameters are drawn from their initialisers. The kernels' thread count is
// whatever kernels::set_num_threads chose.
ModelProfile profile_model(Model& model, const ProfileOptions& options, Rng& rng);

// cnn-summary --memory: the inference memory plan of a batch (Model::plan_inference_memory),
// one row per layer (output bytes, its place in the planned buffer, the steps it lives), then
// what an output-only inference forward holds: parameters, the planned buffer, the layers'
// derived data (Layer::derived_bytes); each layer's scratch and its place in the buffer
// (Layer::scratch_bytes); and, for comparison, every output kept as training keeps them. The
// same as JSON.
std::string memory_text(const Model& model, const Model::MemoryPlan& plan);
json_ordered memory_json(const Model& model, const Model::MemoryPlan& plan);

// The table cnn-summary --time prints, and the same as JSON.
std::string profile_text(const ModelProfile& p);
json_ordered profile_json(const ModelProfile& p);

}  // namespace cnn
