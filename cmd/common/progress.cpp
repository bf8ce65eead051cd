// Progress bar and epoch lines.
#include "common/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "dist/comm.hpp"

namespace cnn::cmd {
namespace {

std::string fmt(double v, const char* spec = "%.4f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string duration(double s) {
  if (s >= 3600) return fmt(s / 3600, "%.0f") + ":" + fmt(std::fmod(s, 3600) / 60, "%02.0f") + "h";
  if (s >= 60) return fmt(s / 60, "%.0f") + ":" + fmt(std::fmod(s, 60), "%02.0f");
  return fmt(s, "%.0f") + "s";
}

}  // namespace

// In a job of several processes (mpirun) the first reports for all.
Progress::Progress(bool quiet)
    : quiet_(quiet || !dist::Comm::world().is_root()), tty_(::isatty(STDERR_FILENO) == 1) {}

void Progress::info(const std::string& line) {
  if (!quiet_) std::cerr << line << "\n";
}

void Progress::step(const train::StepProgress& p) {
  if (quiet_ || !tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (p.step != p.steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  if (shown_epoch_ != p.epoch) {
    std::cerr << "Epoch " << p.epoch << "/" << p.epochs << "\n";
    shown_epoch_ = p.epoch;
  }
  const std::size_t width = 30;
  const std::size_t filled = p.steps ? p.step * width / p.steps : width;
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, '.');
  const double eta = p.step ? p.seconds / double(p.step) * double(p.steps - p.step) : 0.0;
  std::cerr << "\r" << p.step << "/" << p.steps << " [" << bar << "] - "
            << (p.step < p.steps ? "ETA: " + duration(eta) : duration(p.seconds))
            << " - loss: " << fmt(p.loss) << " - accuracy: " << fmt(p.accuracy) << "\x1b[K"
            << std::flush;
}

std::string metrics_text(const train::EpochRecord& r) {
  std::string s = "loss: " + fmt(r.loss) + " - accuracy: " + fmt(r.accuracy);
  if (r.top_k) s += " - top_k_accuracy: " + fmt(*r.top_k);
  if (r.val_loss) s += " - val_loss: " + fmt(*r.val_loss);
  if (r.val_accuracy) s += " - val_accuracy: " + fmt(*r.val_accuracy);
  if (r.val_top_k) s += " - val_top_k_accuracy: " + fmt(*r.val_top_k);
  return s;
}

void Progress::epoch(const train::EpochRecord& r, std::size_t epochs) {
  if (quiet_) return;
  if (tty_) std::cerr << "\r\x1b[K";
  std::cerr << "Epoch " << r.epoch << "/" << epochs << " - " << fmt(r.seconds, "%.1f") << "s - "
            << metrics_text(r) << " - lr: " << fmt(r.learning_rate, "%.3g") << "\n";
}

json_ordered training_result_json(const train::RunResult& result) {
  const auto& h = result.fit.history;
  json_ordered j;
  j["run_dir"] = result.run_dir;
  j["epochs"] = h.size();
  j["interrupted"] = result.fit.interrupted;
  if (!h.empty()) {
    const auto last = train::to_json(h.back());
    for (auto it = last.begin(); it != last.end(); ++it)
      if (it.key() != "epoch") j[it.key()] = it.value();
  }
  if (result.fit.stopped_early_at) j["stopped_early_at"] = *result.fit.stopped_early_at;
  if (result.fit.best_epoch) j["best_epoch"] = *result.fit.best_epoch;
  j["skipped_images"] = result.skipped_images;
  return j;
}

}  // namespace cnn::cmd
