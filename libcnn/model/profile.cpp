// Per-layer profile: timing loop over Model::forward/backward with LayerTimes, FLOP counts from
// the layers' configurations, and the caffe-time-like table.
#include "model/profile.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"

namespace cnn {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string pad_left(const std::string& s, std::size_t w) {
  return s.size() >= w ? s : std::string(w - s.size(), ' ') + s;
}
std::string pad_right(const std::string& s, std::size_t w) {
  return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
}

std::string gflops(double flops, double ms) {
  return flops > 0 && ms > 0 ? fixed(flops / (ms * 1e6), 1) : "-";
}

}  // namespace

double forward_flops(const Model& model, std::size_t i, std::size_t n) {
  return 2.0 * model.node(i).layer->forward_macs() * static_cast<double>(n);
}

double backward_flops(const Model& model, std::size_t i, std::size_t n) {
  const double f = forward_flops(model, i, n);
  if (f == 0) return 0;
  const auto& node = model.node(i);
  double b = node.layer->trainable() ? f : 0;  // weight gradient
  const bool reads_only_input = std::all_of(node.inputs.begin(), node.inputs.end(),
                                            [](std::size_t j) { return j == Model::kModelInput; });
  if (!reads_only_input) b += f;  // input gradient
  return b;
}

ModelProfile profile_model(Model& model, const ProfileOptions& opt, Rng& rng) {
  ModelProfile p;
  p.model = model.name();
  p.batch = opt.batch;
  p.iterations = std::max<std::size_t>(1, opt.iterations);
  p.warmup = opt.warmup;
  p.backward = opt.backward;
  p.threads = static_cast<std::size_t>(kernels::num_threads());
  p.precision = kernels::precision_name(kernels::matmul_precision());
  model.check_activation_memory(opt.batch, opt.backward);  // before the buffers below
  model.init_params(rng);

  Tensor x = xt::empty<float>(batch_shape(opt.batch, model.input_shape()));
  for (auto& v : x) v = rng.uniform();
  Tensor g = xt::empty<float>(batch_shape(opt.batch, model.output_shape()));
  for (auto& v : g) v = rng.uniform(-1.0f, 1.0f) / static_cast<float>(opt.batch);

  const std::size_t layers = model.size();
  std::vector<std::vector<double>> fwd(layers), bwd(layers);
  std::vector<double> fwd_total, bwd_total;
  Context ctx{opt.backward, &rng};
  ctx.output_only = !opt.backward;  // as cnn-eval runs it
  LayerTimes times;
  for (std::size_t it = 0; it < opt.warmup + p.iterations; ++it) {
    times.forward_s.assign(layers, 0.0);
    times.backward_s.assign(layers, 0.0);
    model.set_layer_times(&times);
    const auto t0 = Clock::now();
    model.forward(ctx, x);
    const auto t1 = Clock::now();
    if (opt.backward) {
      model.zero_grads();
      model.backward(ctx, x, g);
    }
    const auto t2 = Clock::now();
    model.set_layer_times(nullptr);
    if (it < opt.warmup) continue;
    for (std::size_t i = 0; i < layers; ++i) {
      fwd[i].push_back(times.forward_s[i] * 1e3);
      bwd[i].push_back(times.backward_s[i] * 1e3);
    }
    fwd_total.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bwd_total.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  for (std::size_t i = 0; i < layers; ++i) {
    LayerProfile l;
    l.name = model.node(i).layer->name();
    l.type = model.node(i).layer->type();
    l.forward_ms = median(fwd[i]);
    l.backward_ms = opt.backward ? median(bwd[i]) : 0;
    l.forward_flops = forward_flops(model, i, opt.batch);
    l.backward_flops = opt.backward ? backward_flops(model, i, opt.batch) : 0;
    l.fused = !opt.backward && i > 0 &&
              (model.fusable(i - 1) || model.pooled_concat(i - 1) || model.product_concat(i - 1));
    l.in_place = !opt.backward && (model.concat_in_place(i) || model.aliases_input(i));
    p.layers.push_back(std::move(l));
  }
  p.forward_ms = median(fwd_total);
  p.backward_ms = opt.backward ? median(bwd_total) : 0;
  return p;
}

std::string profile_text(const ModelProfile& p) {
  std::ostringstream o;
  o << "Profile of '" << p.model << "': batch " << p.batch << ", " << p.threads << " thread"
    << (p.threads == 1 ? "" : "s") << ", median of " << p.iterations << " iterations after "
    << p.warmup << " warm-up, " << (p.backward ? "training" : "inference") << " mode"
    << (p.precision == "fp32" ? "" : ", " + p.precision + " products") << "\n";
  std::size_t name_w = 12;
  for (const auto& l : p.layers) name_w = std::max(name_w, l.name.size() + l.type.size() + 3);
  const std::string rule(name_w + (p.backward ? 48 : 24), '-');
  o << pad_right("Layer (type)", name_w) << pad_left("fwd ms", 12) << pad_left("GFLOP/s", 12);
  if (p.backward) o << pad_left("bwd ms", 12) << pad_left("GFLOP/s", 12);
  o << "\n" << rule << "\n";
  double ff = 0, bf = 0;
  for (const auto& l : p.layers) {
    o << pad_right(l.name + " (" + l.type + ")", name_w);
    if (l.fused || l.in_place)
      o << pad_left(l.fused ? "(fused)" : "(in place)", 12) << pad_left("-", 12);
    else
      o << pad_left(fixed(l.forward_ms, 3), 12)
        << pad_left(gflops(l.forward_flops, l.forward_ms), 12);
    if (p.backward)
      o << pad_left(fixed(l.backward_ms, 3), 12)
        << pad_left(gflops(l.backward_flops, l.backward_ms), 12);
    o << "\n";
    ff += l.forward_flops;
    bf += l.backward_flops;
  }
  o << rule << "\n";
  o << pad_right("Total", name_w) << pad_left(fixed(p.forward_ms, 3), 12)
    << pad_left(gflops(ff, p.forward_ms), 12);
  if (p.backward)
    o << pad_left(fixed(p.backward_ms, 3), 12) << pad_left(gflops(bf, p.backward_ms), 12);
  o << "\n";
  const double ms = p.forward_ms + p.backward_ms;
  o << (p.backward ? "Training" : "Inference") << ": "
    << fixed(ms > 0 ? static_cast<double>(p.batch) * 1e3 / ms : 0, 1) << " images/s ("
    << fixed(ms, 3) << " ms per batch of " << p.batch << ")\n";
  return o.str();
}

json_ordered profile_json(const ModelProfile& p) {
  json_ordered j;
  j["model"] = p.model;
  j["batch"] = p.batch;
  j["threads"] = p.threads;
  j["iterations"] = p.iterations;
  j["warmup"] = p.warmup;
  j["mode"] = p.backward ? "training" : "inference";
  j["precision"] = p.precision;
  json_ordered layers = json_ordered::array();
  for (const auto& l : p.layers) {
    json_ordered e;
    e["name"] = l.name;
    e["type"] = l.type;
    e["forward_ms"] = l.forward_ms;
    e["forward_flops"] = l.forward_flops;
    if (!p.backward) {
      e["fused"] = l.fused;
      e["in_place"] = l.in_place;
    }
    if (p.backward) {
      e["backward_ms"] = l.backward_ms;
      e["backward_flops"] = l.backward_flops;
    }
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  j["forward_ms"] = p.forward_ms;
  if (p.backward) j["backward_ms"] = p.backward_ms;
  const double ms = p.forward_ms + p.backward_ms;
  j["images_per_second"] = ms > 0 ? static_cast<double>(p.batch) * 1e3 / ms : 0.0;
  return j;
}

namespace {
// Bytes as Keras 3's summary writes them: "56.13 MB", 1024-based.
std::string bytes_str(std::size_t b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? std::to_string(b) + " B" : fixed(v, 2) + " " + units[u];
}

struct MemoryTotals {
  std::size_t params = 0, derived = 0;
  std::size_t total(const Model::MemoryPlan& plan) const {
    return params + plan.buffer_bytes + derived;
  }
};
MemoryTotals memory_totals(const Model& model, std::size_t batch) {
  MemoryTotals t;
  t.params = model.param_count() * sizeof(float);
  for (std::size_t i = 0; i < model.size(); ++i)
    t.derived += model.node(i).layer->derived_bytes(batch);
  return t;
}

std::string place_str(std::size_t offset, std::size_t bytes) {
  return fixed(offset / 1048576.0, 2) + "-" + fixed((offset + bytes) / 1048576.0, 2) + " MB";
}
}  // namespace

std::string memory_text(const Model& model, const Model::MemoryPlan& plan) {
  std::ostringstream o;
  o << "Inference memory of '" << model.name() << "' for a batch of " << plan.batch
    << " (cnn-eval, cnn-extract-features, validation)\n";
  std::size_t name_w = 12, shape_w = 12;
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = *model.node(i).layer;
    name_w = std::max(name_w, l.name().size() + l.type().size() + 4);
    shape_w = std::max(shape_w, shape_str(model.node(i).out_shape, true).size() + 2);
  }
  const std::string rule(name_w + shape_w + 12 + 24 + 10, '-');
  o << pad_right("Layer (type)", name_w) << pad_right("Output Shape", shape_w)
    << pad_left("Bytes", 12) << pad_left("Place in buffer", 24) << pad_left("Steps", 10) << "\n"
    << rule << "\n";
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = *model.node(i).layer;
    const Model::MemoryPlan::Output& p = plan.outputs[i];
    o << pad_right(l.name() + " (" + l.type() + ")", name_w)
      << pad_right(shape_str(model.node(i).out_shape, true), shape_w);
    if (p.fused) {
      o << pad_left("fused", 12) << pad_left("-", 24) << pad_left("-", 10);
    } else if (p.product_of) {
      o << pad_left("fused", 12) << pad_left("into " + model.node(*p.product_of).layer->name(), 24)
        << pad_left(std::to_string(p.first), 10);
    } else if (p.part_of || p.alias_of) {
      const std::string where = p.part_of ? "in " + model.node(*p.part_of).layer->name()
                                          : "as " + model.node(*p.alias_of).layer->name();
      const std::string last = p.last == model.size() ? "end" : std::to_string(p.last);
      o << pad_left(bytes_str(p.bytes), 12) << pad_left(where, 24)
        << pad_left(std::to_string(p.first) + "-" + last, 10);
    } else {
      const std::string last = p.last == model.size() ? "end" : std::to_string(p.last);
      o << pad_left(bytes_str(p.bytes), 12) << pad_left(place_str(p.offset, p.bytes), 24)
        << pad_left(std::to_string(p.first) + "-" + last, 10);
    }
    if (const std::size_t d = l.derived_bytes(plan.batch); d)
      o << "   + " << bytes_str(d) << " kept";
    if (p.scratch_bytes)
      o << "   + scratch " << bytes_str(p.scratch_bytes) << " at "
        << place_str(p.scratch_offset, p.scratch_bytes);
    o << "\n";
  }
  const MemoryTotals t = memory_totals(model, plan.batch);
  o << rule << "\n";
  o << "Parameters: " << bytes_str(t.params) << "\n";
  o << "Outputs and scratch, planned buffer (peak): " << bytes_str(plan.buffer_bytes)
    << " (the most alive at one step: " << bytes_str(plan.live_peak_bytes) << ")\n";
  if (t.derived)
    o << "Kept from the parameters (Winograd kernels): " << bytes_str(t.derived) << "\n";
  o << "Total: " << bytes_str(t.total(plan)) << "\n";
  o << "Training keeps every output: " << bytes_str(plan.kept_bytes)
    << " (and up to as much again for their gradients)\n";
  return o.str();
}

json_ordered memory_json(const Model& model, const Model::MemoryPlan& plan) {
  json_ordered j;
  j["model"] = model.name();
  j["batch"] = plan.batch;
  json_ordered layers = json_ordered::array();
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Model::MemoryPlan::Output& p = plan.outputs[i];
    json_ordered e;
    e["name"] = model.node(i).layer->name();
    e["type"] = model.node(i).layer->type();
    e["bytes"] = p.bytes;
    e["fused"] = p.fused || p.product_of.has_value();
    if (!p.fused && !p.product_of) {
      e["offset"] = p.offset;
      e["first_step"] = p.first;
      e["last_step"] = p.last;
    }
    if (p.assembled) e["assembled_in_place"] = true;
    if (p.part_of) e["part_of"] = model.node(*p.part_of).layer->name();
    if (p.product_of) e["product_of"] = model.node(*p.product_of).layer->name();
    if (p.alias_of) e["alias_of"] = model.node(*p.alias_of).layer->name();
    e["derived_bytes"] = model.node(i).layer->derived_bytes(plan.batch);
    e["scratch_bytes"] = p.scratch_bytes;
    if (p.scratch_bytes) e["scratch_offset"] = p.scratch_offset;
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  const MemoryTotals t = memory_totals(model, plan.batch);
  j["param_bytes"] = t.params;
  j["buffer_bytes"] = plan.buffer_bytes;
  j["live_peak_bytes"] = plan.live_peak_bytes;
  j["derived_bytes"] = t.derived;
  j["total_bytes"] = t.total(plan);
  j["training_output_bytes"] = plan.kept_bytes;
  return j;
}

}  // namespace cnn
