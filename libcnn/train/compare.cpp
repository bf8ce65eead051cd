// See compare.hpp.
#include "train/compare.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "io/architecture.hpp"
#include "tensor/error.hpp"

namespace cnn::train {
namespace {

// train.json as dotted keys -> values (lists and scalars as leaves).
void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j;
}

// A metric's best epoch: the highest accuracy, the lowest loss (the first on ties).
json best_of(const json& history, const std::string& key) {
  const bool higher = key.find("accuracy") != std::string::npos;
  json best;
  for (const json& row : history) {
    if (!row.contains(key) || !row.at(key).is_number()) continue;
    const double v = row.at(key).get<double>();
    if (best.is_null() ||
        (higher ? v > best["value"].get<double>() : v < best["value"].get<double>()))
      best = {{"value", v}, {"epoch", row.value("epoch", 0)}};
  }
  return best;
}

std::string number(const json& v, int digits = 4) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s.precision(digits);
  s << v.get<double>();
  return s.str();
}

}  // namespace

json compare_runs(const std::vector<std::string>& runs) {
  json rows = json::array();
  std::vector<std::map<std::string, json>> recipes;
  for (const auto& run : runs) {
    if (!std::filesystem::is_directory(run))
      throw InputError(run, "not a run directory (cnn-eval --compare takes cnn-train's outputs)");
    const std::string hist_path = (std::filesystem::path(run) / "history.json").string();
    if (!std::filesystem::exists(hist_path))
      throw InputError(run, "no history.json; not a run directory written by cnn-train");
    const json history = io::read_json(hist_path);
    if (!history.is_array())
      throw ConfigError(hist_path, "", "", "expected a list of epoch objects");
    for (const json& row : history)
      if (!row.is_object())
        throw ConfigError(hist_path, "", "", "expected a list of epoch objects");
    json r;
    r["run"] = run;
    r["epochs"] = history.size();
    r["final"] = history.empty() ? json(nullptr) : history.back();
    r["best"] = json::object();
    for (const char* key : {"val_accuracy", "val_loss", "accuracy", "loss"}) {
      const json b = best_of(history, key);
      if (!b.is_null()) r["best"][key] = b;
    }
    double seconds = 0;
    for (const json& row : history) seconds += row.value("seconds", 0.0);
    r["seconds"] = seconds;
    rows.push_back(r);
    std::map<std::string, json> flat;
    const std::string recipe = (std::filesystem::path(run) / "train.json").string();
    if (std::filesystem::exists(recipe)) flatten(io::read_json(recipe), "", flat);
    recipes.push_back(std::move(flat));
  }
  // The fields that differ between the runs (present in one and not another counts).
  std::set<std::string> keys;
  for (const auto& f : recipes)
    for (const auto& [k, v] : f) keys.insert(k);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i]["recipe"] = json::object();
  for (const auto& k : keys) {
    bool differs = false;
    const auto first = recipes.front().find(k);
    for (const auto& f : recipes) {
      const auto a = f.find(k);
      differs = differs || (a == f.end()) != (first == recipes.front().end()) ||
                (a != f.end() && a->second != first->second);
    }
    if (!differs) continue;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto it = recipes[i].find(k);
      rows[i]["recipe"][k] = it == recipes[i].end() ? json(nullptr) : it->second;
    }
  }
  return rows;
}

std::string compare_table(const json& rows) {
  std::vector<std::string> varied;
  if (!rows.empty())
    for (const auto& [k, v] : rows.front().at("recipe").items()) varied.push_back(k);
  std::vector<std::string> header = {"run"};
  header.insert(header.end(), varied.begin(), varied.end());
  for (const char* h : {"epochs", "loss", "accuracy", "val_loss", "val_accuracy",
                        "best val_accuracy (epoch)", "best val_loss (epoch)", "seconds"})
    header.push_back(h);
  std::vector<std::vector<std::string>> table = {header};
  for (const json& r : rows) {
    std::vector<std::string> line = {r.at("run").get<std::string>()};
    for (const auto& k : varied) {
      const json& v = r.at("recipe").at(k);
      line.push_back(v.is_null() ? "-" : v.is_string() ? v.get<std::string>() : v.dump());
    }
    line.push_back(std::to_string(r.at("epochs").get<std::size_t>()));
    const json& fin = r.at("final");
    for (const char* k : {"loss", "accuracy", "val_loss", "val_accuracy"})
      line.push_back(fin.is_object() && fin.contains(k) ? number(fin.at(k)) : "-");
    for (const char* k : {"val_accuracy", "val_loss"}) {
      const json& b = r.at("best");
      line.push_back(b.contains(k) ? number(b.at(k).at("value")) + " (" +
                                         std::to_string(b.at(k).at("epoch").get<long>()) + ")"
                                   : "-");
    }
    line.push_back(number(r.at("seconds"), 3));
    table.push_back(line);
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& line : table)
    for (std::size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  std::string out;
  for (const auto& line : table) {
    for (std::size_t c = 0; c < line.size(); ++c) {
      out += line[c];
      if (c + 1 < line.size()) out += std::string(width[c] - line[c].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

}  // namespace cnn::train
