// Learning-rate schedules and early stopping: values at known steps/epochs, plateau reduction with
// patience and cooldown, early-stopping patience/min_delta/baseline, state round trips, bad
// configs.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "tensor/error.hpp"
#include "train/schedule.hpp"

using namespace cnn::train;
using cnn::json;

namespace {

std::unique_ptr<LrSchedule> schedule(const char* text, double default_lr = 0.1) {
  return make_schedule(json::parse(text), default_lr, "train.json", "/schedule");
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

EpochLogs val_loss(double v) { return {{"loss", 1.0}, {"val_loss", v}}; }

}  // namespace

TEST_CASE("constant, step, exponential and cosine schedules at known steps") {
  auto c = schedule(R"({"type": "constant"})", 0.25);
  CHECK(c->learning_rate(0, 0) == 0.25);
  CHECK(c->learning_rate(1000, 7) == 0.25);

  auto s = schedule(R"({"type": "step", "factor": 0.5, "every_epochs": 3})");
  CHECK(s->learning_rate(99, 0) == doctest::Approx(0.1));
  CHECK(s->learning_rate(0, 2) == doctest::Approx(0.1));
  CHECK(s->learning_rate(0, 3) == doctest::Approx(0.05));
  CHECK(s->learning_rate(0, 6) == doctest::Approx(0.025));

  auto e = schedule(R"({"type": "exponential", "initial_learning_rate": 0.1,
                        "decay_steps": 1000, "decay_rate": 0.96})");
  CHECK(e->learning_rate(0, 0) == doctest::Approx(0.1));
  CHECK(e->learning_rate(500, 0) == doctest::Approx(0.1 * std::pow(0.96, 0.5)));
  CHECK(e->learning_rate(2000, 0) == doctest::Approx(0.1 * 0.96 * 0.96));
  auto es = schedule(R"({"type": "exponential", "decay_steps": 1000, "decay_rate": 0.96,
                         "staircase": true})");
  CHECK(es->learning_rate(999, 0) == doctest::Approx(0.1));
  CHECK(es->learning_rate(1000, 0) == doctest::Approx(0.096));
  CHECK(es->learning_rate(1999, 0) == doctest::Approx(0.096));

  auto cs = schedule(R"({"type": "cosine", "initial_learning_rate": 0.2, "decay_steps": 100,
                         "alpha": 0.1})");
  CHECK(cs->learning_rate(0, 0) == doctest::Approx(0.2));
  CHECK(cs->learning_rate(50, 0) == doctest::Approx(0.2 * (0.9 * 0.5 + 0.1)));
  CHECK(cs->learning_rate(25, 0) ==
        doctest::Approx(0.2 * (0.9 * 0.5 * (1 + std::cos(std::numbers::pi / 4)) + 0.1)));
  CHECK(cs->learning_rate(100, 0) == doctest::Approx(0.1 * 0.2));  // alpha * lr at the end
  CHECK(cs->learning_rate(500, 0) == doctest::Approx(0.1 * 0.2));  // and after it
  CHECK(schedule(R"({"type": "cosine", "decay_steps": 10})")->learning_rate(10, 0) == 0.0);

  // to_json writes every field, and builds the same schedule again.
  CHECK(es->to_json().dump() ==
        R"({"type":"exponential","initial_learning_rate":0.1,"decay_steps":1000,)"
        R"("decay_rate":0.96,"staircase":true})");
  for (const auto* sch : {c.get(), s.get(), e.get(), es.get(), cs.get()}) {
    auto again = make_schedule(json::parse(sch->to_json().dump()), 123.0);
    CHECK(again->to_json() == sch->to_json());
    CHECK(again->learning_rate(777, 5) == sch->learning_rate(777, 5));
    CHECK(sch->state_to_json().dump() == "{}");
  }
}

TEST_CASE("reduce_on_plateau reduces after patience, honours cooldown and min_lr") {
  auto p = schedule(R"({"type": "reduce_on_plateau", "factor": 0.5, "patience": 2,
                        "cooldown": 2, "min_delta": 0, "min_lr": 0.01})");
  auto& plateau = dynamic_cast<ReduceLrOnPlateau&>(*p);
  CHECK(plateau.mode() == MonitorMode::Min);
  // The loss never improves after the first epoch.
  const std::vector<double> expected = {0.1,     // e0: first value is the best
                                        0.1,     // e1: wait 1
                                        0.05,    // e2: wait 2 = patience -> reduce, cooldown 2
                                        0.05,    // e3: cooling down (counter 2 -> 1)
                                        0.05,    // e4: counter 1 -> 0, then wait 1
                                        0.025,   // e5: wait 2 -> reduce
                                        0.025,   // e6: cooling down
                                        0.025,   // e7: wait 1
                                        0.0125,  // e8: reduce
                                        0.0125, 0.0125,
                                        0.01,  // e11: max(0.00625, min_lr)
                                        0.01,   0.01,
                                        0.01,   0.01};  // lr == min_lr: no more reductions
  for (std::size_t e = 0; e < expected.size(); ++e) {
    p->on_epoch_end(static_cast<std::int64_t>(e), val_loss(1.0));
    CAPTURE(e);
    CHECK(p->learning_rate(0, static_cast<std::int64_t>(e) + 1) ==
          doctest::Approx(expected[e]).epsilon(1e-6));
  }
  // An improvement (beyond min_delta) resets the wait.
  auto q = schedule(R"({"type": "reduce_on_plateau", "patience": 2})");
  q->on_epoch_end(0, val_loss(1.0));
  q->on_epoch_end(1, val_loss(0.99995));  // within the default min_delta 1e-4: no improvement
  CHECK(dynamic_cast<ReduceLrOnPlateau&>(*q).wait() == 1);
  q->on_epoch_end(2, val_loss(0.9));
  CHECK(dynamic_cast<ReduceLrOnPlateau&>(*q).wait() == 0);
  CHECK(dynamic_cast<ReduceLrOnPlateau&>(*q).best() == 0.9);
  q->on_epoch_end(3, val_loss(0.95));
  q->on_epoch_end(4, val_loss(0.95));
  CHECK(q->learning_rate(0, 5) == doctest::Approx(0.01).epsilon(1e-6));
  // "acc" in the monitor makes auto mean max.
  auto a = schedule(R"({"type": "reduce_on_plateau", "monitor": "val_accuracy"})");
  CHECK(dynamic_cast<ReduceLrOnPlateau&>(*a).mode() == MonitorMode::Max);
}

TEST_CASE("early stopping: patience, min_delta, baseline, best epoch and weights") {
  EarlyStopping es = EarlyStopping::from_json(
      json::parse(R"({"patience": 2, "min_delta": 0.1, "restore_best_weights": true})"));
  CHECK(es.mode() == MonitorMode::Min);
  auto d = es.on_epoch_end(0, val_loss(1.0));
  CHECK((d.improved && d.keep_weights && !d.stop));
  d = es.on_epoch_end(1, val_loss(0.95));  // better by less than min_delta: not an improvement
  CHECK((!d.improved && !d.keep_weights && !d.stop));
  d = es.on_epoch_end(2, val_loss(0.5));
  CHECK((d.improved && d.keep_weights && !d.stop));
  d = es.on_epoch_end(3, val_loss(0.45));
  CHECK(!d.stop);
  d = es.on_epoch_end(4, val_loss(0.45));
  CHECK((d.stop && d.restore_weights));
  CHECK(es.best_epoch() == 2);
  CHECK(es.best() == 0.5);
  CHECK(es.stopped_epoch() == 4);

  // Default patience 0: stops at the first epoch without improvement (never on epoch 0, and
  // never on an improving epoch).
  EarlyStopping zero;
  CHECK(!zero.on_epoch_end(0, val_loss(1.0)).stop);
  CHECK(!zero.on_epoch_end(1, val_loss(0.9)).stop);
  const auto z = zero.on_epoch_end(2, val_loss(0.9));
  CHECK(z.stop);
  CHECK(!z.restore_weights);  // restore_best_weights is off

  // Accuracy is maximised in auto mode.
  EarlyStoppingConfig acc_cfg;
  acc_cfg.monitor = "val_accuracy";
  acc_cfg.patience = 1;
  EarlyStopping acc(acc_cfg);
  CHECK(acc.mode() == MonitorMode::Max);
  CHECK(acc.on_epoch_end(0, {{"val_accuracy", 0.5}}).improved);
  CHECK(acc.on_epoch_end(1, {{"val_accuracy", 0.6}}).improved);
  CHECK(acc.on_epoch_end(2, {{"val_accuracy", 0.55}}).stop);

  // A baseline not yet beaten keeps the wait running.
  EarlyStopping base = EarlyStopping::from_json(json::parse(R"({"patience": 1, "baseline": 0.5})"));
  CHECK(!base.on_epoch_end(0, val_loss(0.8)).stop);
  CHECK(base.wait() == 1);
  CHECK(!base.on_epoch_end(1, val_loss(0.7)).stop);  // improving epochs never stop
  CHECK(base.on_epoch_end(2, val_loss(0.7)).stop);
  CHECK(base.best_epoch() == 1);
  CHECK(base.to_json().dump() ==
        R"({"monitor":"val_loss","min_delta":0.0,"patience":1,"mode":"auto","baseline":0.5,)"
        R"("restore_best_weights":false})");
}

TEST_CASE("schedule and early-stopping state survives a JSON round trip") {
  const std::vector<double> losses = {1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77, 0.78, 0.79};
  const char* cfg = R"({"type": "reduce_on_plateau", "factor": 0.3, "patience": 1,
                        "cooldown": 1})";
  auto straight = schedule(cfg);
  EarlyStopping es_straight(EarlyStoppingConfig{"val_loss", 0.01, 3, "auto", std::nullopt, true});
  std::vector<double> lr_straight;
  std::vector<bool> stop_straight;
  for (std::size_t e = 0; e < losses.size(); ++e) {
    straight->on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e]));
    lr_straight.push_back(straight->learning_rate(0, 0));
    stop_straight.push_back(
        es_straight.on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e])).stop);
  }

  auto first = schedule(cfg);
  EarlyStopping es_first(EarlyStoppingConfig{"val_loss", 0.01, 3, "auto", std::nullopt, true});
  for (std::size_t e = 0; e < 4; ++e) {
    first->on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e]));
    es_first.on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e]));
  }
  // The checkpoint: configs and states as JSON text.
  const std::string sched_cfg = first->to_json().dump(),
                    sched_state = first->state_to_json().dump();
  const std::string es_cfg = es_first.to_json().dump(), es_state = es_first.state_to_json().dump();
  auto resumed = make_schedule(json::parse(sched_cfg), 1.0, "ck.json", "/schedule");
  resumed->load_state(json::parse(sched_state), "ck.json", "/schedule_state");
  EarlyStopping es_resumed = EarlyStopping::from_json(json::parse(es_cfg));
  es_resumed.load_state(json::parse(es_state));
  CHECK(resumed->learning_rate(0, 0) == lr_straight[3]);
  for (std::size_t e = 4; e < losses.size(); ++e) {
    resumed->on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e]));
    CHECK(resumed->learning_rate(0, 0) == lr_straight[e]);
    CHECK(es_resumed.on_epoch_end(static_cast<std::int64_t>(e), val_loss(losses[e])).stop ==
          stop_straight[e]);
  }
  CHECK(es_resumed.best_epoch() == es_straight.best_epoch());

  // Infinite "best" (nothing seen yet) is written as a string and read back.
  EarlyStopping fresh;
  CHECK(fresh.state_to_json()["best"] == "inf");
  EarlyStopping restored;
  restored.load_state(json::parse(fresh.state_to_json().dump()));
  CHECK(std::isinf(restored.best()));
  CHECK_THROWS_AS(restored.load_state(json::parse(R"({"wait": 0})")), cnn::ConfigError);
  CHECK_THROWS_AS(schedule(R"({"type": "constant"})")->load_state(json::parse(R"({"x": 1})")),
                  cnn::ConfigError);
}

TEST_CASE("bad schedule and early-stopping configs name the field") {
  CHECK(message_of([] { schedule(R"({"type": "cosin", "decay_steps": 10})"); }) ==
        "train.json: /schedule/type: unknown value 'cosin'; expected one of constant, cosine, "
        "exponential, reduce_on_plateau, step (did you mean 'cosine'?)");
  CHECK(message_of([] { schedule(R"({"type": "constant", "initial_learning_rate": -1})"); }) ==
        "train.json: /schedule/initial_learning_rate: expected a number >= 0, got -1");
  CHECK(message_of([] { schedule(R"({"type": "exponential", "decay_steps": 10})"); }) ==
        "train.json: /schedule/decay_rate: missing required field");
  CHECK(message_of([] { schedule(R"({"type": "step", "factor": 0.5, "every_epoch": 2})"); }) ==
        "train.json: /schedule/every_epochs: missing required field");
  CHECK(message_of([] {
          schedule(R"({"type": "step", "factor": 0.5, "every_epochs": 2, "every_epoch": 2})");
        }).find("/schedule/every_epoch: unknown field") != std::string::npos);
  CHECK(message_of([] { schedule(R"({"type": "reduce_on_plateau", "factor": 1.0})"); }) ==
        "train.json: /schedule/factor: expected a number in [0, 1), got 1");
  CHECK(message_of([] {
          schedule(R"({"type": "reduce_on_plateau", "mode": "mx"})");
        }).find("did you mean 'max'?") != std::string::npos);
  // A monitor the loop never logs.
  auto p = schedule(R"({"type": "reduce_on_plateau", "monitor": "val_los"})");
  CHECK(message_of([&] { p->on_epoch_end(0, val_loss(1.0)); }) ==
        "train.json: /schedule/monitor: metric 'val_los' is not in this epoch's logs; expected "
        "one of loss, val_loss (did you mean 'val_loss'?)");
  CHECK(message_of([] {
          EarlyStopping::from_json(json::parse(R"({"patiense": 3})"), "train.json",
                                   "/early_stopping");
        }).find("/early_stopping/patiense: unknown field") != std::string::npos);
  CHECK_THROWS_AS(EarlyStopping::from_json(json::parse(R"({"patience": -1})")), cnn::ConfigError);
  CHECK_THROWS_AS(EarlyStopping::from_json(json::parse(R"({"baseline": "low"})")),
                  cnn::ConfigError);
  EarlyStopping es;
  CHECK_THROWS_AS(es.on_epoch_end(0, {{"loss", 1.0}}), cnn::ConfigError);
}
