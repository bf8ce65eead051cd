// Keras HDF5 weights: walks layer_names / weight_names, maps Keras 1 and 2 weight names to our
// parameter names and copies each dataset (converted to float32 by HDF5) after a shape check.
#include "io/keras_h5.hpp"

#include <hdf5.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "io/atomic_file.hpp"
#include "io/child.hpp"
#include "io/hdf5_handle.hpp"
#include "io/import.hpp"
#include "tensor/budget.hpp"
#include "tensor/text.hpp"

namespace cnn::io {
namespace {

bool has_attribute(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

// A weights file holds its data itself. An external link, a dataset with external storage or a
// virtual dataset would make the importer copy another file of this machine into the weights
// (share/limits.md): the access lists below refuse to follow external links anywhere, and
// check_link() / check_storage() name the object that tried.
extern "C" herr_t refuse_external_link(const char*, const char*, const char*, const char*,
                                       unsigned*, hid_t, void*) {
  return -1;
}

// A link or group/dataset access property list that does not follow external links.
hid_t no_external_links(hid_t cls) {
  const hid_t pl = H5Pcreate(cls);
  if (pl >= 0) H5Pset_elink_cb(pl, refuse_external_link, nullptr);
  return pl;
}

// Throws when a link on the relative path name (in loc; "conv1/kernel:0" has two) is anything
// but a hard or soft link inside the file. shown is the path for the message.
void check_link(hid_t loc, const std::string& name, const std::string& shown, hid_t lapl,
                const std::string& file) {
  for (std::size_t end = name.find('/');; end = name.find('/', end + 1)) {
    const std::string part = name.substr(0, end);
    H5L_info_t info{};
    if (!part.empty()) {
      if (H5Lexists(loc, part.c_str(), lapl) <= 0 ||
          H5Lget_info(loc, part.c_str(), &info, lapl) < 0)
        return;  // missing: the caller's own message
      if (info.type != H5L_TYPE_HARD && info.type != H5L_TYPE_SOFT)
        throw FormatError(file, std::nullopt,
                          "'" + shown.substr(0, shown.size() - name.size()) + part +
                              "' is an external link to another file; a Keras weights file "
                              "holds its data itself (refused: it would copy another file's "
                              "bytes)");
    }
    if (end == std::string::npos) return;
  }
}

// Throws for a dataset whose data lives outside the file, or whose chunks are larger than the
// dataset (libhdf5 allocates whole chunks to read: a 30 KB file could make it take gigabytes).
void check_storage(hid_t ds, const std::string& shown, const std::string& file) {
  const Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl.ok()) return;
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_CHUNKED) {
    hsize_t dims[H5S_MAX_RANK];
    const int rank = H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, dims);
    const std::size_t chunk =  // values in one chunk
        rank > 0 ? checked_numel(Shape(dims, dims + rank), kMaxParams).value_or(kMaxParams + 1)
                 : kMaxParams + 1;
    const Handle space(H5Dget_space(ds), H5Sclose);
    const hssize_t n = space.ok() ? H5Sget_simple_extent_npoints(space.get()) : -1;
    if (n < 0 || chunk > std::max<std::size_t>(static_cast<std::size_t>(n), 1))
      throw FormatError(file, std::nullopt,
                        "dataset '" + shown + "' is stored in chunks of " + std::to_string(chunk) +
                            " values, more than its own " +
                            std::to_string(std::max<hssize_t>(n, 0)) + " values");
  }
  if (layout == H5D_VIRTUAL)
    throw FormatError(file, std::nullopt,
                      "dataset '" + shown +
                          "' is a virtual dataset (its data is in other "
                          "datasets or files); a Keras weights file holds its data itself");
  if (H5Pget_external_count(dcpl.get()) > 0)
    throw FormatError(
        file, std::nullopt,
        "dataset '" + shown +
            "' keeps its data in external files; a Keras "
            "weights file holds its data itself (refused: it would copy another file's "
            "bytes)");
}

// A string or list-of-strings attribute (fixed-length as h5py writes NumPy bytes arrays, or
// variable-length as it writes Python strings).
std::vector<std::string> read_strings(hid_t obj, const char* name, const std::string& file,
                                      const std::string& where) {
  auto bad = [&](const std::string& what) {
    return FormatError(
        file, std::nullopt,
        where + ": attribute '" + name + "' " + what + "; expected a list of strings");
  };
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) throw bad("cannot be opened");
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.ok() || !space.ok()) throw bad("cannot be read");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) throw bad("has no size");
  std::vector<std::string> out;
  // Keras writes a layer without weights as an empty (float) array.
  if (n == 0) return out;
  if (H5Tget_class(type.get()) != H5T_STRING) throw bad("is not text");
  const auto count = static_cast<std::size_t>(n);
  // The counts come from the file: checked before the buffers below are sized by them.
  check_memory(count, std::max<std::size_t>(H5Tget_size(type.get()) + 1, sizeof(char*)),
               file + ": " + where + ": attribute '" + name + "'");
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));  // h5py writes str as UTF-8
    std::vector<char*> ptrs(count, nullptr);
    if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0) throw bad("cannot be read");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    // One byte more than the file's strings: a NULLTERM memory type keeps the last byte for
    // the terminator, and Keras's strings fill the whole fixed width (NumPy "S" arrays).
    const std::size_t size = H5Tget_size(type.get()) + 1;
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), size);
    H5Tset_strpad(mem.get(), H5T_STR_NULLTERM);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char> buf(count * size);
    if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) throw bad("cannot be read");
    for (std::size_t i = 0; i < count; ++i) {
      const char* p = buf.data() + i * size;
      std::size_t len = 0;
      while (len < size && p[len] != '\0') ++len;
      out.emplace_back(p, len);
    }
  }
  return out;
}

// Our parameter name for a Keras weight name of layer, or "" if unknown:
// Keras 2 "conv1/kernel:0" -> kernel; Keras 1 "conv1_W_1:0" / "conv1_W" -> kernel.
std::string param_name(const std::string& layer, std::string w) {
  if (const auto colon = w.rfind(':'); colon != std::string::npos) w.resize(colon);
  if (const auto slash = w.rfind('/'); slash != std::string::npos) w = w.substr(slash + 1);
  if (w.rfind(layer + "_", 0) == 0) w = w.substr(layer.size() + 1);
  // Keras 1 appends "_<n>" to make variable names unique.
  if (const auto us = w.rfind('_'); us != std::string::npos && us + 1 < w.size() &&
                                    w.find_first_not_of("0123456789", us + 1) == std::string::npos)
    w.resize(us);
  static const std::map<std::string, std::string> names = {
      {"kernel", "kernel"},
      {"W", "kernel"},
      {"bias", "bias"},
      {"b", "bias"},
      {"gamma", "gamma"},
      {"beta", "beta"},
      {"moving_mean", "moving_mean"},
      {"running_mean", "moving_mean"},
      {"moving_variance", "moving_variance"},
      // Keras 1 stored the variance under this name.
      {"running_std", "moving_variance"}};
  const auto it = names.find(w);
  return it == names.end() ? "" : it->second;
}

// path opened read-only by libhdf5 (in the child process), its own error printing off; errors
// name shown.
Handle open_hdf5(const std::string& path, const std::string& shown) {
  silence_hdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw FormatError(shown, 0,
                      "not an HDF5 file (no HDF5 signature; truncated or another format?)");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw FormatError(shown, std::nullopt, "the HDF5 file cannot be opened");
  return file;
}

// The child's CPU time for a file of this size: 10 s plus one per 16 MiB (VGG16's 528 MB of
// weights take under 2 s; a 30 KB fuzzed file kept libhdf5 converting one string attribute
// indefinitely).
unsigned hdf5_cpu_seconds(std::uint64_t file_size) {
  return 10 + static_cast<unsigned>(file_size >> 24);
}

// Dataset name of group (shown as ds_path) into the parameter np of layer: a numeric dataset of
// exactly the parameter's shape, converted to float by libhdf5.
void read_dataset(hid_t group, const std::string& name, const std::string& ds_path,
                  const std::string& layer, const Model::NamedParam& np, hid_t lapl, hid_t dapl,
                  const std::string& path) {
  check_link(group, name, ds_path, lapl, path);
  Handle ds(H5Dopen2(group, name.c_str(), dapl), H5Dclose);
  if (!ds.ok())
    throw FormatError(path, std::nullopt,
                      "layer '" + layer + "': dataset '" + ds_path + "' is missing");
  check_storage(ds.get(), ds_path, path);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw FormatError(path, std::nullopt, "dataset '" + ds_path + "' has no shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  const Shape got(dims.begin(), dims.end());
  const Param& dst = *np.param;
  if (got != dst.shape)
    throw FormatError(path, std::nullopt,
                      "layer '" + layer + "': dataset '" + ds_path + "' has shape " +
                          shape_list(got) + ", the architecture needs " + shape_list(dst.shape) +
                          " for '" + np.name + "'");
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw FormatError(path, std::nullopt,
                      "layer '" + layer + "': dataset '" + ds_path + "' is not numeric");
  // Numbers of 1 to 8 bytes, as NumPy writes them (a 1 MB "float" would make libhdf5's
  // conversion buffers as large as the dataset times that).
  const std::size_t bytes = H5Tget_size(type.get());
  if (bytes == 0 || bytes > 8)
    throw FormatError(path, std::nullopt,
                      "layer '" + layer + "': dataset '" + ds_path + "' has " +
                          std::to_string(bytes) +
                          "-byte elements; expected numbers of 1 to 8 bytes");
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst.value) < 0)
    throw FormatError(path, std::nullopt,
                      "layer '" + layer + "': dataset '" + ds_path + "' cannot be read");
}

// Keras 3's layout (the model.weights.h5 of a .keras archive): each layer's variables are the
// datasets vars/0, vars/1, ... of its group (KerasH5Options::keras3_groups), in the layer's
// parameter order.
WeightsImport read_keras3_h5(Model& model, const std::string& path, const KerasH5Options& opt,
                             hid_t file, hid_t lapl, hid_t gapl, hid_t dapl) {
  std::vector<std::pair<std::string, std::vector<Model::NamedParam>>> layers;
  for (const auto& np : model.named_params()) {
    if (layers.empty() || layers.back().first != np.layer->name())
      layers.emplace_back(np.layer->name(), std::vector<Model::NamedParam>{});
    layers.back().second.push_back(np);
  }
  WeightsImport report;
  for (const auto& [layer, params] : layers) {
    const auto g = opt.keras3_groups.find(layer);
    if (g == opt.keras3_groups.end())
      throw Error("read_keras_h5: no Keras 3 group for layer '" + layer + "'");
    const std::string vars = g->second + "/vars";
    if (H5Lexists(file, g->second.substr(0, g->second.find('/')).c_str(), lapl) <= 0 ||
        H5Lexists(file, g->second.c_str(), lapl) <= 0 || H5Lexists(file, vars.c_str(), lapl) <= 0) {
      if (!opt.allow_missing)
        throw FormatError(path, std::nullopt,
                          "layer '" + layer + "' of the architecture has no group /" + vars +
                              " in the file (pass --allow-missing to leave it initialised)");
      for (const auto& np : params) report.initialised.push_back(np.name);
      continue;
    }
    check_link(file, vars, "/" + vars, lapl, path);
    Handle group(H5Gopen2(file, vars.c_str(), gapl), H5Gclose);
    H5G_info_t info{};
    if (!group.ok() || H5Gget_info(group.get(), &info) < 0)
      throw FormatError(path, std::nullopt, "layer '" + layer + "': /" + vars + " cannot be read");
    if (info.nlinks != params.size())
      throw FormatError(path, std::nullopt,
                        "layer '" + layer + "': /" + vars + " holds " +
                            std::to_string(info.nlinks) + " variables, the architecture's " +
                            params.front().layer->type() + " has " + std::to_string(params.size()) +
                            " parameters");
    for (std::size_t k = 0; k < params.size(); ++k) {
      const std::string name = std::to_string(k);
      read_dataset(group.get(), name, "/" + vars + "/" + name, layer, params[k], lapl, dapl, path);
      report.loaded.push_back(params[k].name);
    }
  }
  return report;
}

// The import itself, in the process that calls it (import_keras_h5 runs it in a child).
WeightsImport read_keras_h5(Model& model, const std::string& file_path, const KerasH5Options& opt) {
  const std::string& path = opt.shown.empty() ? file_path : opt.shown;  // for messages
  const Handle file = open_hdf5(file_path, path);
  const Handle lapl(no_external_links(H5P_LINK_ACCESS), H5Pclose);
  const Handle gapl(no_external_links(H5P_GROUP_ACCESS), H5Pclose);
  const Handle dapl(no_external_links(H5P_DATASET_ACCESS), H5Pclose);
  if (!lapl.ok() || !gapl.ok() || !dapl.ok())
    throw IoError(path, "open", "HDF5 property lists cannot be created");
  if (!opt.keras3_groups.empty())
    return read_keras3_h5(model, path, opt, file.get(), lapl.get(), gapl.get(), dapl.get());
  // A whole-model file keeps its weights in /model_weights.
  std::string root = "/";
  Handle root_group(H5Gopen2(file.get(), "/", gapl.get()), H5Gclose);
  if (!root_group.ok()) throw FormatError(path, std::nullopt, "the HDF5 root group cannot be read");
  if (!has_attribute(root_group.get(), "layer_names") &&
      H5Lexists(file.get(), "model_weights", lapl.get()) > 0) {
    check_link(file.get(), "model_weights", "/model_weights", lapl.get(), path);
    root = "/model_weights/";
  }
  Handle weights_group(H5Gopen2(file.get(), root.c_str(), gapl.get()), H5Gclose);
  if (!weights_group.ok() || !has_attribute(weights_group.get(), "layer_names"))
    throw FormatError(path, std::nullopt,
                      "not a Keras weights file: no 'layer_names' attribute at " + root);
  const auto layer_names = read_strings(weights_group.get(), "layer_names", path, root);

  // The architecture's parameters by layer.
  std::map<std::string, std::map<std::string, Model::NamedParam>> by_layer;
  std::vector<std::string> order;
  for (const auto& np : model.named_params()) {
    if (!by_layer.count(np.layer->name())) order.push_back(np.layer->name());
    by_layer[np.layer->name()].emplace(np.param->name, np);
  }

  WeightsImport report;
  std::set<std::string> filled, in_file;
  for (const auto& layer : layer_names) {
    in_file.insert(layer);
    const auto target = by_layer.find(layer);
    if (target == by_layer.end()) {
      // A layer of the model without parameters (pooling, Flatten, the input) takes nothing.
      if (!model.find(layer) && layer != model.input_name()) report.unused.push_back(layer);
      continue;
    }
    const std::string group_path = root + layer;
    check_link(weights_group.get(), layer, group_path, lapl.get(), path);
    Handle group(H5Gopen2(file.get(), group_path.c_str(), gapl.get()), H5Gclose);
    if (!group.ok())
      throw FormatError(
          path, std::nullopt,
          "layer '" + layer + "' is listed in layer_names but group " + group_path + " is missing");
    std::vector<std::string> weight_names;
    if (has_attribute(group.get(), "weight_names"))
      weight_names = read_strings(group.get(), "weight_names", path, group_path);
    for (const auto& w : weight_names) {
      const std::string ds_path = group_path + "/" + w;
      const std::string param = param_name(layer, w);
      const auto p = target->second.find(param);
      if (param.empty() || p == target->second.end()) {
        std::string known;
        for (const auto& [n, np] : target->second) known += (known.empty() ? "" : ", ") + n;
        throw FormatError(path, std::nullopt,
                          "layer '" + layer + "': dataset '" + ds_path +
                              "' is not a parameter of the architecture's layer (" +
                              target->second.begin()->second.layer->type() + ": " + known + ")");
      }
      read_dataset(group.get(), w, ds_path, layer, p->second, lapl.get(), dapl.get(), path);
      if (!filled.insert(p->second.name).second)
        throw FormatError(path, std::nullopt,
                          "layer '" + layer + "': two datasets fill '" + p->second.name + "'");
      report.loaded.push_back(p->second.name);
    }
  }
  // What the architecture needs and the file does not have.
  for (const auto& layer : order)
    for (const auto& np : model.named_params())
      if (np.layer->name() == layer && !filled.count(np.name)) {
        if (!opt.allow_missing)
          throw FormatError(path, std::nullopt,
                            in_file.count(layer)
                                ? "layer '" + layer + "' has no weight for '" + np.name +
                                      "' (pass --allow-missing to leave it initialised)"
                                : "layer '" + layer +
                                      "' of the architecture is missing from the file (pass "
                                      "--allow-missing to leave it initialised)");
        report.initialised.push_back(np.name);
      }
  return report;
}

void send_names(PipeOut& out, const std::vector<std::string>& names) {
  out.u64(names.size());
  for (const auto& n : names) out.str(n);
}

std::vector<std::string> receive_names(PipeIn& in) {
  std::vector<std::string> names(in.u64());
  for (auto& n : names) n = in.str();
  return names;
}

}  // namespace

std::string read_keras_h5_model_config(const std::string& path) {
  ChildLimits limits;
  limits.cpu_seconds = hdf5_cpu_seconds(InputFile(path).size());
  constexpr std::size_t kMaxConfig = std::size_t{64} << 20;
  std::string config;
  run_in_child(
      "libhdf5", path, limits,
      [&](PipeOut& out) {
        const Handle file = open_hdf5(path, path);
        Handle root(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose);
        if (!root.ok()) throw FormatError(path, std::nullopt, "the HDF5 root group cannot be read");
        std::string text;
        if (has_attribute(root.get(), "model_config")) {
          const auto strings = read_strings(root.get(), "model_config", path, "/");
          if (strings.size() != 1)
            throw FormatError(path, std::nullopt, "/: attribute 'model_config' is not one text");
          text = strings[0];
          if (text.size() > kMaxConfig)
            throw FormatError(path, std::nullopt, "/: attribute 'model_config' is over 64 MiB");
        }
        out.str(text);
      },
      [&](PipeIn& in) { config = in.str(kMaxConfig); });
  return config;
}

WeightsImport import_keras_h5(Model& model, const std::string& path, const KerasH5Options& opt) {
  const std::uint64_t file_size = InputFile(path).size();  // a regular file that can be read
  std::map<std::string, Param*> params;
  for (const auto& np : model.named_params()) params.emplace(np.name, np.param);
  // libhdf5 trusts sizes and offsets in the file (README, "Hostile input and fuzzing"): it reads
  // in a child process that may map 256 MiB plus twice the model's weights beyond what it
  // inherits, for hdf5_cpu_seconds of CPU.
  ChildLimits limits;
  limits.memory += 2 * model.param_count() * sizeof(float);
  limits.cpu_seconds = hdf5_cpu_seconds(file_size);
  WeightsImport report;
  run_in_child(
      "libhdf5", opt.shown.empty() ? path : opt.shown, limits,
      [&](PipeOut& out) {  // in the child: its copy of the model, filled and sent
        const WeightsImport r = read_keras_h5(model, path, opt);
        for (const auto& name : r.loaded) {
          const Param& p = *params.at(name);
          out.str(name);
          out.u64(p.size());
          out.bytes(p.value, p.size() * sizeof(float));
        }
        out.str("");
        send_names(out, r.initialised);
        send_names(out, r.unused);
      },
      [&](PipeIn& in) {
        for (std::string name = in.str(); !name.empty(); name = in.str()) {
          const auto it = params.find(name);
          if (it == params.end() || in.u64() != it->second->size())
            throw Error("import_keras_h5: the reading process sent '" + printable(name) +
                        "', which is not a parameter of this size");
          in.bytes(it->second->value, it->second->size() * sizeof(float));
          report.loaded.push_back(name);
        }
        report.initialised = receive_names(in);
        report.unused = receive_names(in);
      });
  return report;
}

}  // namespace cnn::io
