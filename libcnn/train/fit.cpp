// fit(): the epoch loop around Trainer::train_step, with validation, schedules, early stopping
// and checkpoints. Everything the loop needs to continue exactly is in its checkpoint state.
#include "train/fit.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <utility>

#include "data/batcher.hpp"
#include "dist/comm.hpp"
#include "train/checkpoint.hpp"
#include "train/schedule.hpp"

namespace cnn::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

json stats_json(const PassStats& s) {
  return {{"loss_sum", s.loss_sum},
          {"correct", s.correct},
          {"top_k_correct", s.top_k_correct},
          {"samples", s.samples}};
}

// A pass's sums as four doubles and back, to add them over the processes of a job.
constexpr std::size_t kStatsValues = 4;
std::array<double, kStatsValues> stats_values(const PassStats& s) {
  return {s.loss_sum, s.correct, s.top_k_correct, static_cast<double>(s.samples)};
}
PassStats stats_from_values(const double* v) {
  PassStats s;
  s.loss_sum = v[0];
  s.correct = v[1];
  s.top_k_correct = v[2];
  s.samples = static_cast<std::size_t>(v[3]);
  return s;
}

PassStats stats_from_json(const json& j) {
  PassStats s;
  s.loss_sum = j.at("loss_sum").get<double>();
  s.correct = j.at("correct").get<double>();
  s.top_k_correct = j.at("top_k_correct").get<double>();
  s.samples = j.at("samples").get<std::size_t>();
  return s;
}

// Data-parallel training: the moving statistics each process keeps of its own parts of the
// batches (BatchNormalization's of trainable layers), in arena order.
std::vector<Param*> per_process_statistics(Model& model) {
  std::vector<Param*> out;
  for (auto& np : model.named_params())
    if (np.layer->has_running_statistics() && np.layer->trainable() && !np.param->trainable)
      out.push_back(np.param);
  return out;
}

// FitOptions::recalibrate_bn: the running statistics of every trainable layer that keeps them
// (BatchNormalization) become the average of `batches` training batches' statistics for the
// current weights.
void recalibrate_batchnorm(Model& model, const data::Dataset& train, const FitOptions& opt,
                           std::size_t epoch) {
  std::vector<Layer*> bns;
  for (std::size_t i = 0; i < model.size(); ++i)
    if (Layer& l = model.layer(i); l.has_running_statistics() && l.trainable()) bns.push_back(&l);
  if (bns.empty()) return;
  const std::uint64_t seed = opt.seed ^ (0x9e3779b97f4a7c15ULL * (epoch + 1));
  data::Batcher batcher(train, {opt.batch_size, true, seed, opt.threads, 2, opt.recalibrate_bn});
  data::Batch batch;
  Rng rng(seed);
  Context ctx;
  ctx.training = true;
  ctx.rng = &rng;
  batcher.start_epoch(epoch);
  std::size_t k = 0;
  for (; k < opt.recalibrate_bn; ++k) {
    if (!batcher.next(batch)) {
      // More batches asked for than an epoch holds: go round again, in a new order.
      batcher.start_epoch(epoch + k + 1);
      if (!batcher.next(batch)) break;
    }
    for (Layer* bn : bns) bn->set_statistics_momentum(double(k) / double(k + 1));
    model.forward(ctx, batch.x);
  }
  for (Layer* bn : bns) bn->set_statistics_momentum(std::nullopt);
}

// Data-parallel training: each process's BatchNormalization layers keep moving statistics of
// their own parts of the batches. At the end of every epoch they become the mean over the
// processes, so that validation, checkpoints and the saved weights see one model.
void average_running_statistics(Model& model) {
  dist::Comm& comm = dist::Comm::world();
  if (!comm.parallel()) return;
  const float k = static_cast<float>(comm.size());
  for (Param* p : per_process_statistics(model)) {
    comm.allreduce_sum(p->value, p->size());
    for (std::size_t i = 0, n = p->size(); i < n; ++i) p->value[i] /= k;
  }
}

// A stop asked of any process (Ctrl-C, or the SIGTERM a scheduler sends) stops them all.
bool stop_requested(const FitOptions& opt, dist::Comm& comm) {
  double asked = opt.stop && opt.stop->load() ? 1.0 : 0.0;
  comm.allreduce_sum(&asked, 1);
  return asked > 0;
}

}  // namespace

json_ordered to_json(const EpochRecord& r) {
  json_ordered j;
  j["epoch"] = r.epoch;
  j["loss"] = r.loss;
  j["accuracy"] = r.accuracy;
  if (r.top_k) j["top_k_accuracy"] = *r.top_k;
  if (r.val_loss) j["val_loss"] = *r.val_loss;
  if (r.val_accuracy) j["val_accuracy"] = *r.val_accuracy;
  if (r.val_top_k) j["val_top_k_accuracy"] = *r.val_top_k;
  j["lr"] = r.learning_rate;
  j["seconds"] = r.seconds;
  j["skipped_images"] = r.skipped_images;
  return j;
}

EpochRecord epoch_record_from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<std::size_t>();
  r.loss = j.at("loss").get<double>();
  r.accuracy = j.at("accuracy").get<double>();
  auto opt = [&](const char* k) -> std::optional<double> {
    auto it = j.find(k);
    if (it == j.end()) return std::nullopt;
    return it->get<double>();
  };
  r.top_k = opt("top_k_accuracy");
  r.val_loss = opt("val_loss");
  r.val_accuracy = opt("val_accuracy");
  r.val_top_k = opt("val_top_k_accuracy");
  r.learning_rate = j.at("lr").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.skipped_images = j.value("skipped_images", std::size_t{0});
  return r;
}

std::optional<std::string> first_nonfinite_param(Model& model, bool gradients) {
  for (auto& np : model.named_params()) {
    const float* p = gradients ? np.param->grad : np.param->value;
    if (!p) continue;
    for (std::size_t i = 0, n = np.param->size(); i < n; ++i)
      if (!std::isfinite(p[i])) return np.name;
  }
  return std::nullopt;
}

PassStats evaluate(Trainer& trainer, const data::Dataset& dataset, std::size_t batch_size,
                   std::size_t threads, std::optional<std::size_t> steps,
                   const std::function<void(const data::Batch&, const Tensor&)>& on_batch,
                   bool shard) {
  dist::Comm& comm = dist::Comm::world();
  shard = shard && comm.parallel();
  // A limited number of steps reads a fixed, seeded random subset (the same every epoch, and
  // mixed across classes), not the first batches of a dataset that is sorted by class.
  data::BatcherOptions bo{batch_size, steps.has_value(), 0x5eed5eedULL, threads, 2, steps};
  if (shard) data::shard_over_processes(bo, true);
  data::Batcher batcher(dataset, bo);
  data::Batch batch;
  Tensor probabilities;
  PassStats total;
  std::vector<double> mine;  // shard: this process's batches' sums, in order
  batcher.start_epoch(0);
  while (batcher.next(batch)) {
    const PassStats s =
        trainer.eval_step(batch.x, batch.labels, on_batch ? &probabilities : nullptr);
    if (shard) {
      const auto v = stats_values(s);
      mine.insert(mine.end(), v.begin(), v.end());
    } else {
      total.add(s);
    }
    if (on_batch) on_batch(batch, probabilities);
  }
  if (shard) {
    // The processes' ranges of batches are contiguous and in rank order: the gathered list is
    // every batch in order, added as one process adds them.
    const std::vector<double> all = comm.allgather(mine);
    for (std::size_t i = 0; i + kStatsValues <= all.size(); i += kStatsValues)
      total.add(stats_from_values(all.data() + i));
  }
  return total;
}

Callbacks make_callbacks(const FitOptions& opt, double learning_rate, bool has_validation,
                         bool has_top_k) {
  Callbacks c;
  c.schedule = make_schedule(opt.schedule.value_or(ScheduleConfig{}), learning_rate,
                             opt.recipe_file, "/schedule");
  if (opt.early_stopping)
    c.early_stopping.emplace(*opt.early_stopping, opt.recipe_file, "/early_stopping");
  // Monitors must name something the loop logs.
  std::vector<std::string> logged = {"loss", "accuracy", "lr"};
  if (has_top_k) logged.push_back("top_k_accuracy");
  if (has_validation) {
    logged.insert(logged.end(), {"val_loss", "val_accuracy"});
    if (has_top_k) logged.push_back("val_top_k_accuracy");
  }
  auto check_monitor = [&](const std::string& monitor, const std::string& pointer) {
    if (std::find(logged.begin(), logged.end(), monitor) != logged.end()) return;
    std::string problem =
        "monitors '" + monitor + "', which this run does not log; " + choices_hint(monitor, logged);
    if (monitor.rfind("val_", 0) == 0 && !has_validation)
      problem = "monitors '" + monitor +
                "' but there is no validation data; give validation "
                "data or monitor 'loss'";
    throw ConfigError(opt.recipe_file, pointer, "", problem);
  };
  if (const auto monitor = c.schedule->monitored()) check_monitor(*monitor, "/schedule/monitor");
  if (c.early_stopping)
    check_monitor(c.early_stopping->config().monitor, "/early_stopping/monitor");
  return c;
}

namespace {

// Where the loop stands, as a checkpoint's state.json holds it (with the RNG, the callbacks'
// state and the history): the next epoch, the steps of it already trained and their sums, and
// early stopping's best weights (in best.safetensors).
struct LoopState {
  std::size_t epoch = 0, step = 0;
  PassStats partial;
  std::vector<float> best;
};

json state_json(const LoopState& s, Model& model, Trainer& trainer, const Callbacks& c,
                const std::vector<EpochRecord>& history) {
  json st;
  st["epoch"] = s.epoch;
  st["step"] = s.step;
  st["partial"] = stats_json(s.partial);
  const auto r = trainer.rng().state();
  st["rng"] = json::array({r[0], r[1], r[2], r[3]});
  // Data-parallel: every process's generator (each draws its own dropout masks), gathered.
  dist::Comm& comm = dist::Comm::world();
  if (comm.parallel()) {
    const auto k = static_cast<std::size_t>(comm.size());
    std::vector<std::uint64_t> all(4 * k);
    comm.allgather(r.data(), sizeof r, all.data());
    json ranks = json::array();
    for (std::size_t i = 0; i < k; ++i)
      ranks.push_back(json::array({all[4 * i], all[4 * i + 1], all[4 * i + 2], all[4 * i + 3]}));
    st["processes"] = k;
    st["rng_processes"] = ranks;
    // Mid-epoch, each process's BatchNormalization statistics are still its own.
    std::vector<float> mine;
    for (const Param* p : per_process_statistics(model))
      mine.insert(mine.end(), p->value, p->value + p->size());
    std::vector<float> stats(k * mine.size());
    comm.allgather(mine.data(), mine.size() * sizeof(float), stats.data());
    json per = json::array();
    for (std::size_t i = 0; i < k; ++i)
      per.push_back(
          std::vector<float>(stats.begin() + static_cast<std::ptrdiff_t>(i * mine.size()),
                             stats.begin() + static_cast<std::ptrdiff_t>((i + 1) * mine.size())));
    st["statistics_processes"] = per;
  }
  st["schedule"] = c.schedule->state_to_json();
  if (c.early_stopping) st["early_stopping"] = c.early_stopping->state_to_json();
  json h = json::array();
  for (const auto& rec : history) h.push_back(json::parse(to_json(rec).dump()));
  st["history"] = h;
  return st;
}

// Every process takes part (the generators are gathered); the first alone writes.
void save_checkpoint(const FitOptions& opt, Model& model, Trainer& trainer, const Callbacks& c,
                     const LoopState& s, const std::vector<EpochRecord>& history) {
  const json state = state_json(s, model, trainer, c, history);
  if (dist::Comm::world().is_root())
    write_checkpoint(opt.run_dir, static_cast<std::uint64_t>(trainer.optimizer().iterations()),
                     model, trainer.optimizer(), state, s.best);
}

// The state of the run's latest checkpoint, its weights, optimizer, RNG and callbacks restored.
LoopState resume_from_checkpoint(const FitOptions& opt, Model& model, Trainer& trainer,
                                 Callbacks& c, std::vector<EpochRecord>& history) {
  LoopState s;
  try {
    const json st = read_checkpoint(opt.run_dir, model, trainer.optimizer(), s.best);
    s.epoch = st.at("epoch").get<std::size_t>();
    s.step = st.at("step").get<std::size_t>();
    s.partial = stats_from_json(st.at("partial"));
    // A data-parallel run continues with as many processes as it had: its batches' parts and
    // its generators are per process.
    dist::Comm& comm = dist::Comm::world();
    const auto k = st.value("processes", std::size_t{1});
    if (k != static_cast<std::size_t>(comm.size()))
      throw InputError(opt.run_dir,
                       "the run was trained by " + std::to_string(k) + " process" +
                           (k == 1 ? "" : "es") + " and this job has " +
                           std::to_string(comm.size()) + "; resume it with " +
                           (k == 1 ? std::string("one process (no mpirun, or mpirun -np 1)")
                                   : "mpirun -np " + std::to_string(k)));
    const json& rng = k > 1 ? st.at("rng_processes").at(comm.rank()) : st.at("rng");
    if (k > 1) {
      const std::vector<float> mine =
          st.at("statistics_processes").at(comm.rank()).get<std::vector<float>>();
      std::size_t at = 0;
      for (Param* p : per_process_statistics(model)) {
        if (at + p->size() > mine.size())
          throw FormatError(opt.run_dir + "/checkpoint", std::nullopt,
                            "state.json's statistics_processes are shorter than the model's "
                            "BatchNormalization statistics");
        std::copy(mine.begin() + static_cast<std::ptrdiff_t>(at),
                  mine.begin() + static_cast<std::ptrdiff_t>(at + p->size()), p->value);
        at += p->size();
      }
    }
    std::array<std::uint64_t, 4> r{};
    for (std::size_t i = 0; i < 4; ++i) r[i] = rng.at(i).get<std::uint64_t>();
    trainer.rng().set_state(r);
    c.schedule->load_state(st.at("schedule"), opt.run_dir, "/schedule");
    if (c.early_stopping && st.contains("early_stopping"))
      c.early_stopping->load_state(st.at("early_stopping"), opt.run_dir, "/early_stopping");
    for (const auto& rec : st.at("history")) history.push_back(epoch_record_from_json(rec));
  } catch (const json::exception& e) {
    throw FormatError(opt.run_dir + "/checkpoint", std::nullopt,
                      std::string("the checkpoint's state.json is damaged: ") + e.what());
  }
  return s;
}

// Divergence stops the run before a non-finite value reaches a checkpoint or the history: the
// last checkpoint written stays the last good one.
[[noreturn]] void throw_diverged(Model& model, const FitOptions& opt, std::size_t epoch,
                                 std::size_t step, const std::string& what, double lr) {
  std::string where = "the forward pass overflowed";
  if (auto p = first_nonfinite_param(model))
    where = "parameter " + *p + " is not finite";
  else if (auto g = first_nonfinite_param(model, true))
    where = "the gradient of " + *g + " is not finite";
  char lr_text[32];
  std::snprintf(lr_text, sizeof lr_text, "%g", lr);
  throw Error("training diverged at epoch " + std::to_string(epoch + 1) + ", step " +
              std::to_string(step) + ": " + what + " (" + where + "); " +
              (has_checkpoint(opt.run_dir)
                   ? "the run keeps its last good checkpoint (cnn-eval reads it)"
                   : "no checkpoint was written") +
              "; try a learning rate below " + lr_text);
}

// After an epoch's steps: BN recalibration, validation, the history row, the callbacks (early
// stopping may keep or restore weights). Returns whether early stopping ends the run.
bool end_epoch(Model& model, Trainer& trainer, const data::Dataset& train,
               const data::Dataset* validation, const FitOptions& opt, Callbacks& c,
               std::size_t epoch, std::size_t step, const PassStats& stats, double lr,
               Clock::time_point t0, LoopState& state, FitResult& result) {
  average_running_statistics(model);
  if (opt.recalibrate_bn > 0) recalibrate_batchnorm(model, train, opt, epoch);
  EpochRecord rec;
  rec.epoch = epoch + 1;
  rec.loss = stats.loss();
  rec.accuracy = stats.accuracy();
  if (trainer.top_k()) rec.top_k = stats.top_k();
  rec.learning_rate = lr;
  rec.skipped_images = opt.skipped_images;
  if (validation) {
    const PassStats v =
        evaluate(trainer, *validation, opt.batch_size, opt.threads, opt.validation_steps, {}, true);
    rec.val_loss = v.loss();
    rec.val_accuracy = v.accuracy();
    if (trainer.top_k()) rec.val_top_k = v.top_k();
  }
  rec.seconds = seconds_since(t0);
  EpochLogs logs{{"loss", rec.loss}, {"accuracy", rec.accuracy}, {"lr", rec.learning_rate}};
  if (rec.val_loss) logs["val_loss"] = *rec.val_loss;
  if (rec.val_accuracy) logs["val_accuracy"] = *rec.val_accuracy;
  c.schedule->on_epoch_end(static_cast<std::int64_t>(epoch), logs);
  bool stop = false;
  if (c.early_stopping) {
    const auto d = c.early_stopping->on_epoch_end(static_cast<std::int64_t>(epoch), logs);
    if (d.keep_weights) {
      const float* v = std::as_const(model).values();
      state.best.assign(v, v + model.arena_size());
    }
    if (d.stop) {
      stop = true;
      result.stopped_early_at = epoch + 1;
    }
    if (d.restore_weights && !state.best.empty()) {
      std::copy(state.best.begin(), state.best.end(), model.values());
      result.restored_best = true;
    }
    result.best_epoch = static_cast<std::size_t>(c.early_stopping->best_epoch()) + 1;
  }
  if (first_nonfinite_param(model))
    throw_diverged(model, opt, epoch, step, "the weights are not finite after the epoch", lr);
  result.history.push_back(rec);
  return stop;
}

}  // namespace

FitResult fit(Model& model, Trainer& trainer, const data::Dataset& train,
              const data::Dataset* validation, const FitOptions& opt) {
  Optimizer& optimizer = trainer.optimizer();
  Callbacks c =
      make_callbacks(opt, optimizer.learning_rate(), validation != nullptr, trainer.top_k() > 0);
  FitResult result;
  LoopState state;
  if (opt.resume) state = resume_from_checkpoint(opt, model, trainer, c, result.history);
  // Data-parallel over the job's processes: each trains on its part of every batch.
  dist::Comm& comm = dist::Comm::world();
  trainer.set_data_parallel(comm, opt.sync_bn);
  data::BatcherOptions bo{opt.batch_size, opt.shuffle, opt.seed,
                          opt.threads,    2,           opt.steps_per_epoch};
  data::shard_over_processes(bo, false);
  data::Batcher batcher(train, bo);
  if (opt.sync_bn && comm.parallel()) {
    // Every process takes part in every shared statistic: none may have an empty part.
    const auto k = static_cast<std::size_t>(comm.size());
    const std::size_t last = batcher.samples_per_epoch() % opt.batch_size;
    const std::size_t smallest = last ? last : opt.batch_size;
    if (smallest < k)
      throw ConfigError(opt.recipe_file, "/sync_bn", "",
                        "shares batch statistics over " + std::to_string(k) +
                            " processes, but a batch of " + std::to_string(smallest) +
                            " samples leaves some without any; use a batch size (and a dataset "
                            "size modulo it) of at least " +
                            std::to_string(k));
  }
  data::Batch batch;
  const auto finish = [&] {
    if (const dist::GradientSync* sync = trainer.gradient_sync()) {
      result.parallel_steps = sync->timing().steps;
      result.sum_overlap_s = sync->timing().overlap_s;
      result.sum_wait_s = sync->timing().wait_s;
    }
    return result;
  };
  for (std::size_t epoch = state.epoch; epoch < opt.epochs; ++epoch) {
    const auto t0 = Clock::now();
    PassStats stats = std::exchange(state.partial, PassStats{});
    double lr = optimizer.learning_rate();
    batcher.start_epoch(epoch);
    std::size_t step = 0;
    // A run interrupted mid-epoch resumes after the batches it had already trained on.
    for (; step < state.step && batcher.next(batch); ++step) {
    }
    while (batcher.next(batch)) {
      lr = c.schedule->learning_rate(optimizer.iterations(), static_cast<std::int64_t>(epoch));
      optimizer.set_learning_rate(lr);
      PassStats s = trainer.train_step(batch.x, batch.labels, 0, batch.batch_samples);
      bool stop_now = opt.stop && opt.stop->load();
      if (comm.parallel()) {
        // The batch's sums over the processes, and whether any was asked to stop, in one sum.
        std::array<double, kStatsValues + 1> v{};
        const auto sums = stats_values(s);
        std::copy(sums.begin(), sums.end(), v.begin());
        v[kStatsValues] = stop_now ? 1.0 : 0.0;
        comm.allreduce_sum(v.data(), v.size());
        s = stats_from_values(v.data());
        stop_now = v[kStatsValues] > 0;
      }
      if (!std::isfinite(s.loss_sum))
        throw_diverged(model, opt, epoch, step + 1,
                       std::isnan(s.loss_sum) ? "the loss is NaN" : "the loss is infinite", lr);
      stats.add(s);
      ++step;
      if (opt.on_step)
        opt.on_step({epoch + 1, opt.epochs, step, batcher.steps_per_epoch(), stats.loss(),
                     stats.accuracy(), seconds_since(t0)});
      if (stop_now && step < batcher.steps_per_epoch()) {
        state.epoch = epoch, state.step = step, state.partial = stats;
        save_checkpoint(opt, model, trainer, c, state, result.history);
        comm.barrier();  // no process leaves before the checkpoint is written
        result.interrupted = true;
        return finish();
      }
    }
    const bool stop = end_epoch(model, trainer, train, validation, opt, c, epoch, step, stats, lr,
                                t0, state, result);
    state.epoch = epoch + 1, state.step = 0, state.partial = PassStats{};
    save_checkpoint(opt, model, trainer, c, state, result.history);
    if (opt.on_epoch) opt.on_epoch(result.history);
    if (stop) break;
    if (stop_requested(opt, comm)) {
      result.interrupted = epoch + 1 < opt.epochs;
      break;
    }
  }
  comm.barrier();  // the checkpoint and history are written before any process leaves
  return finish();
}

}  // namespace cnn::train
