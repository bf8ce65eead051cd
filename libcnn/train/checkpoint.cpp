// Checkpoint folders: write, publish through checkpoint/latest, prune, read back.
#include "train/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "io/weights.hpp"

namespace cnn::train {
namespace fs = std::filesystem;
namespace {

std::string folder_name(std::uint64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%012llu", static_cast<unsigned long long>(step));
  return buf;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void write_checkpoint(const std::string& run_dir, std::uint64_t step, Model& model,
                      const Optimizer& optimizer, const json& state,
                      const std::vector<float>& best) {
  const fs::path root = fs::path(run_dir) / "checkpoint";
  const std::string name = folder_name(step);
  const fs::path dir = root / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir.string(), "create directory", ec.message());

  io::save_weights(model, (dir / "weights.safetensors").string());
  std::vector<io::TensorView> slots;
  for (const auto& [slot, values] : optimizer.state())
    slots.push_back({slot, {values.size()}, values.data()});
  io::write_safetensors(
      (dir / "optimizer.safetensors").string(), slots,
      {{"type", optimizer.type()}, {"iterations", std::to_string(optimizer.iterations())}});
  if (!best.empty())
    io::write_safetensors((dir / "best.safetensors").string(),
                          {{"arena", {best.size()}, best.data()}}, {});
  io::write_file_atomically((dir / "state.json").string(), state.dump(2) + "\n");

  // Publish, then prune everything but this checkpoint and the one it replaces.
  std::string previous;
  if (fs::exists(root / "latest")) previous = trim(io::read_file((root / "latest").string()));
  io::write_file_atomically((root / "latest").string(), name + "\n");
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step-", 0) == 0 && n != name && n != previous)
      fs::remove_all(e.path(), ec);
  }
}

bool has_checkpoint(const std::string& run_dir) {
  return fs::exists(fs::path(run_dir) / "checkpoint" / "latest");
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  if (!has_checkpoint(run_dir)) return std::nullopt;
  const fs::path latest = fs::path(run_dir) / "checkpoint" / "latest";
  const std::string name = trim(io::read_file(latest.string()));
  // A name read from a file never leaves its folder: step- and digits only.
  const bool ok =
      name.size() > 5 && name.size() < 64 && name.rfind("step-", 0) == 0 &&
      std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!ok) throw FormatError(latest.string(), 0, "expected the name of a step-<number> folder");
  return (fs::path(run_dir) / "checkpoint" / name).string();
}

CheckpointProgress checkpoint_progress(const std::string& run_dir) {
  const auto dir = latest_checkpoint(run_dir);
  if (!dir)
    throw InputError(run_dir, "no checkpoint to resume from (checkpoint/latest is missing)");
  const std::string path = (fs::path(*dir) / "state.json").string();
  const json st = io::read_json(path);
  const auto count = [&](const char* key) {
    if (!st.is_object() || !st.contains(key) || !st.at(key).is_number_unsigned())
      throw FormatError(path, std::nullopt, std::string("expected a whole number '") + key + "'");
    return st.at(key).get<std::size_t>();
  };
  return {count("epoch"), count("step")};
}

json read_checkpoint(const std::string& run_dir, Model& model, Optimizer& optimizer,
                     std::vector<float>& best) {
  if (!has_checkpoint(run_dir))
    throw InputError(run_dir, "no checkpoint to resume from (checkpoint/latest is missing)");
  const fs::path dir = *latest_checkpoint(run_dir);
  io::load_weights(model, (dir / "weights.safetensors").string());

  const std::string opt_path = (dir / "optimizer.safetensors").string();
  const io::SafetensorsFile f = io::read_safetensors(opt_path);
  auto it = f.metadata.find("iterations");
  if (it == f.metadata.end()) throw FormatError(opt_path, 8, "metadata 'iterations' is missing");
  const auto type = f.metadata.find("type");
  if (type == f.metadata.end() || type->second != optimizer.type())
    throw FormatError(opt_path, 8,
                      "the checkpoint's optimizer is " +
                          (type == f.metadata.end() ? std::string("unnamed") : type->second) +
                          ", the recipe's is " + optimizer.type());
  OptimizerState slots;
  for (const auto& t : f.tensors) slots[t.name] = f.read_f32(t);
  const std::int64_t iterations = std::stoll(it->second);
  if (!slots.empty() || iterations > 0)
    optimizer.load_state(slots, iterations, model.arena_size(), opt_path);

  best.clear();
  const fs::path best_path = dir / "best.safetensors";
  if (fs::exists(best_path)) {
    const io::SafetensorsFile b = io::read_safetensors(best_path.string());
    if (const io::SafeTensor* t = b.find("arena")) best = b.read_f32(*t);
    if (best.size() != model.arena_size())
      throw FormatError(best_path.string(), std::nullopt,
                        "expected " + std::to_string(model.arena_size()) + " weights, got " +
                            std::to_string(best.size()));
  }
  const std::string state_path = (dir / "state.json").string();
  return io::read_json(state_path);
}

}  // namespace cnn::train
