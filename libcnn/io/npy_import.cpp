// cnn-import npy: a name map and a folder of .npy files onto an architecture's parameters.
#include "io/npy_import.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "io/atomic_file.hpp"
#include "io/import.hpp"
#include "io/npy.hpp"

namespace cnn::io {

WeightsImport import_npy(Model& model, const std::string& dir, const std::string& map_path,
                         const NpyImportOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code dir_ec;
  if (!fs::is_directory(dir, dir_ec)) throw InputError(dir, "no such directory of .npy files");
  const json map = parse_json(read_file(map_path), map_path);
  if (!map.is_object() || map.empty())
    throw ConfigError(map_path, "", "",
                      "expected a JSON object {\"<file stem>\": \"<layer>.<param>\", ...}");

  std::map<std::string, Model::NamedParam> params;
  std::vector<std::string> names;
  for (const auto& np : model.named_params()) {
    params.emplace(np.name, np);
    names.push_back(np.name);
  }
  // The whole map is checked before any file is read.
  std::map<std::string, std::string> target_of;  // parameter -> key
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& [key, target] : map.items()) {
    const std::string pointer = "/" + key;
    if (!is_plain_name(key))
      throw ConfigError(map_path, pointer, "",
                        "a key names a .npy file in the weights folder; '/' and '..' are not "
                        "allowed");
    if (!target.is_string())
      throw ConfigError(map_path, pointer, "", "expected a parameter name \"<layer>.<param>\"");
    const std::string t = target.get<std::string>();
    if (!params.count(t))
      throw ConfigError(map_path, pointer, "",
                        "'" + t + "' is not a parameter of the architecture '" + model.name() +
                            "'; did you mean '" + nearest(t, names) + "'?");
    const auto [it, fresh] = target_of.emplace(t, key);
    if (!fresh)
      throw ConfigError(map_path, pointer, "",
                        "'" + t + "' is already filled by '" + it->second + "'");
    entries.emplace_back(key, t);
  }
  WeightsImport report;
  for (const auto& name : names)
    if (!target_of.count(name)) report.initialised.push_back(name);
  if (!report.initialised.empty() && !opt.allow_missing) {
    std::string list;
    for (const auto& n : report.initialised) list += (list.empty() ? "" : ", ") + n;
    throw ConfigError(map_path, "", "",
                      "the map fills no tensor into " + list +
                          " (pass --allow-missing to leave them initialised)");
  }

  for (const auto& entry : entries) {
    const std::string& key = entry.first;  // named, not bound: lambdas below capture them
    const std::string& target = entry.second;
    std::string file = (fs::path(dir) / key).string();
    if (fs::path(file).extension() != ".npy") file += ".npy";
    const NpyArray a = read_npy(file);
    const Model::NamedParam& np = params.at(target);
    const Shape& want = np.param->shape;
    const Shape got(a.shape.begin(), a.shape.end());
    const std::string type = np.layer->type();
    auto mismatch = [&](const std::string& expected) {
      return FormatError(file, std::nullopt,
                         "tensor '" + key + "' for '" + target + "' (" + type + ") has shape " +
                             shape_list(got) + ", expected " + expected);
    };
    float* dst = np.param->value;
    if (type == "Conv2D" && np.param->name == "kernel") {
      // OIHW -> HWIO: kernel[a][b][i][f] = W[f][i][a][b].
      const std::size_t kh = want[0], kw = want[1], ci = want[2], o = want[3];
      if (got != Shape{o, ci, kh, kw})
        throw mismatch(shape_list({o, ci, kh, kw}) + " ([out, in, kh, kw], OIHW)");
      for (std::size_t f = 0; f < o; ++f)
        for (std::size_t i = 0; i < ci; ++i)
          for (std::size_t y = 0; y < kh; ++y)
            for (std::size_t x = 0; x < kw; ++x)
              dst[((y * kw + x) * ci + i) * o + f] = a.data[((f * ci + i) * kh + y) * kw + x];
    } else if (type == "Dense" && np.param->name == "kernel" && opt.transpose_dense) {
      const std::size_t in = want[0], units = want[1];
      if (got != Shape{units, in})
        throw mismatch(shape_list({units, in}) +
                       " ([units, in]; --no-transpose takes [in, units])");
      for (std::size_t u = 0; u < units; ++u)
        for (std::size_t i = 0; i < in; ++i) dst[i * units + u] = a.data[u * in + i];
    } else {
      // Same layout: the same shape, or (for vectors) the same length with other dims 1.
      bool fits = got == want;
      if (!fits && want.size() == 1) {
        std::size_t big = 0;
        for (auto d : got) big += d != 1;
        fits = a.size() == want[0] && big <= 1;
      }
      if (!fits) throw mismatch(shape_list(want));
      std::copy(a.data.begin(), a.data.end(), dst);
    }
    report.loaded.push_back(target);
  }
  // Files in the folder that the map does not name.
  std::error_code ec;
  std::set<std::string> keys;
  for (const auto& [key, t] : entries) keys.insert(fs::path(key).stem().string());
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".npy" && !keys.count(e.path().stem().string()))
      report.unused.push_back(e.path().filename().string());
  std::sort(report.unused.begin(), report.unused.end());
  return report;
}

}  // namespace cnn::io
