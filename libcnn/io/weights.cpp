// Model weights <-> safetensors, matched by name with shape and version checks.
#include "io/weights.hpp"

#include <map>
#include <set>

#include "io/safetensors.hpp"
#include "tensor/version.hpp"

namespace cnn::io {
namespace {

std::string shape_list(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void check_version(const SafetensorsFile& f) {
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kWeightsFormat) return;  // a foreign writer
  auto ver = f.metadata.find("format_version");
  if (ver == f.metadata.end()) return;
  int v = 0;
  try {
    v = std::stoi(ver->second);
  } catch (const std::exception&) {
    throw FormatError(f.path, 8,
                      "metadata format_version: expected an integer, got '" + ver->second + "'");
  }
  if (v > kWeightsFormatVersion)
    throw FormatError(f.path, 8,
                      "written by a newer cnn (weights format version " + ver->second +
                          "); this build reads version " + std::to_string(kWeightsFormatVersion));
}

// Copies tensor t into parameter p after checking dtype and shape.
void copy_into(const SafetensorsFile& f, const SafeTensor& t, const Param& p,
               const std::string& name, const std::string& remedy) {
  if (t.shape != p.shape)
    throw FormatError(f.path, f.data_offset + t.begin,
                      "tensor '" + name + "' has shape " + shape_list(t.shape) +
                          ", the architecture needs " + shape_list(p.shape) + remedy);
  f.read_f32(t, p.value, p.size());
}

}  // namespace

void save_weights(Model& model, const std::string& path) {
  std::vector<TensorView> views;
  for (const auto& np : model.named_params())
    views.push_back({np.name, np.param->shape, np.param->value});
  write_safetensors(path, views,
                    {{"format", kWeightsFormat},
                     {"format_version", std::to_string(kWeightsFormatVersion)},
                     {"architecture", model.name()},
                     {"params", std::to_string(model.param_count())},
                     {"cnn_version", version()}});
}

void load_weights(Model& model, const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  check_version(f);
  std::set<std::string> wanted;
  for (const auto& np : model.named_params()) {
    wanted.insert(np.name);
    const SafeTensor* t = f.find(np.name);
    if (!t)
      throw FormatError(path, std::nullopt,
                        "tensor '" + np.name + "' is missing; the architecture '" + model.name() +
                            "' needs it with shape " + shape_list(np.param->shape));
    copy_into(f, *t, *np.param, np.name, "");
  }
  for (const auto& t : f.tensors)
    if (!wanted.count(t.name))
      throw FormatError(
          path, f.data_offset + t.begin,
          "tensor '" + t.name + "' is not a parameter of the architecture '" + model.name() + "'");
}

PartialLoad load_weights_partial(Model& model, const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  check_version(f);
  PartialLoad r;
  std::set<std::string> taken;
  for (const auto& np : model.named_params()) {
    const SafeTensor* t = f.find(np.name);
    if (!t) {
      r.initialised.push_back(np.name);
      continue;
    }
    copy_into(f, *t, *np.param, np.name,
              "; if layer '" + np.layer->name() +
                  "' is a new layer, give it another name so it is initialised instead");
    r.loaded.push_back(np.name);
    taken.insert(np.name);
  }
  for (const auto& t : f.tensors)
    if (!taken.count(t.name)) r.unused.push_back(t.name);
  return r;
}

}  // namespace cnn::io
