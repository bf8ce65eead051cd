// run_evaluation: model + data -> metrics, confusion matrix and predictions.
#include "train/evaluation.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "data/batcher.hpp"
#include "dist/comm.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/import.hpp"
#include "io/weights.hpp"
#include "tensor/text.hpp"
#include "train/fit.hpp"
#include "train/run.hpp"
#include "train/run_dir.hpp"

namespace cnn::train {
namespace fs = std::filesystem;

namespace {

// Predictions as bytes, to gather them from the processes of a sharded evaluation.
void put_bytes(std::string& out, const void* p, std::size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <class T>
void put(std::string& out, T v) {
  put_bytes(out, &v, sizeof v);
}
template <class T>
T take(const std::string& in, std::size_t& at) {
  T v{};
  if (at + sizeof v > in.size()) throw Error("a process sent a truncated list of predictions");
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

std::string encode(const std::vector<Prediction>& ps) {
  std::string out;
  for (const Prediction& p : ps) {
    put<std::uint64_t>(out, p.name.size());
    out += p.name;
    put<std::int32_t>(out, p.label.value_or(-1));
    put<std::int32_t>(out, p.predicted);
    put<std::uint64_t>(out, p.probabilities.size());
    put_bytes(out, p.probabilities.data(), p.probabilities.size() * sizeof(float));
  }
  return out;
}

void decode(const std::string& in, std::vector<Prediction>& ps) {
  for (std::size_t at = 0; at < in.size();) {
    Prediction p;
    const auto len = take<std::uint64_t>(in, at);
    if (at + len > in.size()) throw Error("a process sent a truncated list of predictions");
    p.name = in.substr(at, len);
    at += len;
    if (const auto label = take<std::int32_t>(in, at); label >= 0) p.label = label;
    p.predicted = take<std::int32_t>(in, at);
    p.probabilities.resize(take<std::uint64_t>(in, at));
    for (float& v : p.probabilities) v = take<float>(in, at);
    ps.push_back(std::move(p));
  }
}

}  // namespace

EvalReport run_evaluation(const EvalOptions& opt) {
  if (opt.run_dir.empty() && (opt.model_path.empty() || opt.weights_path.empty()))
    throw InputError(opt.model_path.empty() ? "<model>" : opt.model_path,
                     "give a run directory, or a model and --weights");
  const RunDir run = open_run(opt.run_dir.empty() ? opt.model_path : opt.run_dir, opt.weights_path,
                              NeedWeights::yes);
  if (!run.weights_note.empty() && opt.log) opt.log("note: " + run.weights_note);
  Model model = io::load_model(run.model_path);
  io::load_weights(model, run.weights_path);
  if (auto bad = first_nonfinite_param(model))
    throw DataError(run.weights_path, "parameter " + *bad +
                                          " holds NaN or infinite values (the "
                                          "training diverged); there is nothing to evaluate");
  std::vector<std::string> run_classes = run.class_names;
  if (opt.classes_file) run_classes = io::read_class_names(*opt.classes_file, &model);

  // The data section of the training recipe, with the evaluation's dataset and overrides.
  const InputPlan plan = plan_input(model, run, opt.data ? *opt.data : std::string("<images>"),
                                    opt.data_overrides, opt.threads, opt.mnist_dir, opt.log);
  const Recipe& r = plan.recipe;
  data::DatasetOptions dopt = plan.options;
  // A folder is read with the run's classes, in the run's label order, so labels mean what they
  // meant in training (features of a folder, cnn-extract-features, keep the folder's own).
  if (dopt.classes.empty() && !run_classes.empty() && opt.data && fs::is_directory(*opt.data))
    dopt.classes = run_classes;

  EvalReport rep;
  rep.model_name = model.name();
  std::unique_ptr<data::Dataset> ds;
  if (!opt.images.empty()) {
    std::vector<std::string> names = run_classes;
    const std::size_t k = model.output_shape().at(0);
    if (names.empty())
      for (std::size_t c = 0; c < std::max<std::size_t>(k, 2) && (k > 1 || c < 2); ++c)
        names.push_back(std::to_string(c));
    ds = std::make_unique<data::ImageFilesDataset>(data::expand_image_paths(opt.images), dopt,
                                                   names);
  } else if (opt.data) {
    ds = data::open_dataset(*opt.data, dopt);
    rep.has_labels = true;
  } else {
    throw InputError("<data>", "give a dataset (--data) or image files to predict");
  }
  check_fit(model, *ds, opt.data ? *opt.data : opt.images.front());
  rep.class_names = ds->class_names();
  // The model may predict classes the data lacks: name every output.
  const std::size_t outputs = model.output_shape().at(0) == 1 ? 2 : model.output_shape().at(0);
  while (rep.class_names.size() < outputs)
    rep.class_names.push_back(std::to_string(rep.class_names.size()));
  rep.samples = ds->size();
  rep.classes_shown = opt.top_k;
  std::size_t done = 0;

  TrainerOptions topt;
  topt.loss = opt.loss ? *opt.loss : r.loss ? *r.loss : default_loss(dopt.class_mode);
  topt.optimizer = SgdConfig{};
  topt.weight_decay = r.weight_decay;  // Keras's evaluate() includes regularisation losses
  const std::size_t k = model.output_shape().at(0);
  topt.top_k = k > 5 ? 5 : 0;
  Trainer trainer(model, topt, 0);
  rep.confusion = ConfusionMatrix(rep.class_names.size());
  // Sharded over the processes of a job (mpirun): each evaluates its contiguous range of the
  // batches and keeps every prediction; the first gathers them in dataset order below.
  const dist::Comm& comm = dist::Comm::world();
  const bool shard = comm.parallel();
  std::size_t shown_total = rep.samples;
  if (shard) {
    const std::size_t steps = (rep.samples + opt.batch_size - 1) / opt.batch_size;
    shown_total =
        std::min(rep.samples, steps / static_cast<std::size_t>(comm.size()) * opt.batch_size);
  }
  const PassStats s = evaluate(
      trainer, *ds, opt.batch_size, opt.threads, std::nullopt,
      [&](const data::Batch& b, const Tensor& probs) {
        const std::size_t cols = probs.shape()[1];
        for (std::size_t i = 0; i < b.size; ++i) {
          const float* p = probs.data() + i * cols;
          Prediction pr;
          if (cols == 1) {
            pr.probabilities = {1.0f - p[0], p[0]};
            pr.predicted = p[0] > 0.5f ? 1 : 0;
          } else {
            pr.probabilities.assign(p, p + cols);
            pr.predicted = static_cast<std::int32_t>(std::max_element(p, p + cols) -
                                                     p);  // ties: the first, as argmax
          }
          if (rep.has_labels) {
            pr.label = b.labels[i];
            rep.confusion.add(b.labels[i], pr.predicted);
          }
          if (opt.predictions || !rep.has_labels || shard) {
            pr.name = ds->sample_name(b.indices[i]);
            rep.predictions.push_back(std::move(pr));
          }
        }
        done += b.size;
        if (opt.on_progress) opt.on_progress(done, shown_total);
      },
      true);
  if (shard) {
    const std::vector<std::string> parts = dist::Comm::world().gather(encode(rep.predictions));
    rep.predictions.clear();
    rep.confusion.reset();
    if (comm.is_root()) {
      for (const std::string& part : parts) decode(part, rep.predictions);
      for (const Prediction& p : rep.predictions)
        if (p.label) rep.confusion.add(*p.label, p.predicted);
      if (!opt.predictions && rep.has_labels) rep.predictions.clear();
    }
  }
  if (rep.has_labels) {
    rep.loss = s.loss();
    rep.accuracy = s.accuracy();
    if (topt.top_k) rep.top_k = s.top_k();
  }
  return rep;
}

namespace {

// Class indices of p's k largest probabilities, most probable first (ties: lower index).
std::vector<std::size_t> top_classes(const Prediction& p, std::size_t k) {
  std::vector<std::size_t> order(p.probabilities.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return p.probabilities[a] > p.probabilities[b];
  });
  order.resize(std::min(k, order.size()));
  return order;
}

}  // namespace

json_ordered report_json(const EvalReport& rep) {
  json_ordered j;
  j["model"] = rep.model_name;
  j["samples"] = rep.samples;
  if (rep.has_labels) {
    j["loss"] = rep.loss;
    j["accuracy"] = rep.accuracy;
    if (rep.top_k) j["top_5_accuracy"] = *rep.top_k;
    json_ordered per = json_ordered::array();
    for (std::size_t c = 0; c < rep.class_names.size(); ++c)
      per.push_back({{"class", rep.class_names[c]},
                     {"precision", rep.confusion.precision(c)},
                     {"recall", rep.confusion.recall(c)},
                     {"f1", rep.confusion.f1(c)},
                     {"support", rep.confusion.support(c)}});
    j["classes"] = per;
    j["macro_f1"] = rep.confusion.macro_f1();
    json_ordered cm = json_ordered::array();
    for (std::size_t t = 0; t < rep.class_names.size(); ++t) {
      json_ordered row = json_ordered::array();
      for (std::size_t p = 0; p < rep.class_names.size(); ++p)
        row.push_back(rep.confusion.count(t, p));
      cm.push_back(row);
    }
    j["confusion_matrix"] = {{"labels", rep.class_names}, {"rows_true_columns_predicted", cm}};
  }
  if (!rep.predictions.empty()) {
    json_ordered preds = json_ordered::array();
    for (const auto& p : rep.predictions) {
      json_ordered e;
      e["file"] = p.name;
      if (p.label) e["label"] = rep.class_names.at(static_cast<std::size_t>(*p.label));
      e["predicted"] = rep.class_names.at(static_cast<std::size_t>(p.predicted));
      json_ordered probs;
      for (std::size_t c = 0; c < p.probabilities.size() && c < rep.class_names.size(); ++c)
        probs[rep.class_names[c]] = p.probabilities[c];
      e["probabilities"] = probs;
      if (rep.classes_shown) {
        json_ordered top = json_ordered::array();
        for (std::size_t c : top_classes(p, rep.classes_shown))
          top.push_back({{"class", rep.class_names.at(c)}, {"probability", p.probabilities[c]}});
        e["top_k"] = top;
      }
      preds.push_back(e);
    }
    j["predictions"] = preds;
  }
  return j;
}

std::string report_text(const EvalReport& rep) {
  std::ostringstream o;
  char buf[256];
  if (!rep.has_labels) return predictions_csv(rep);
  std::snprintf(buf, sizeof buf, "%s on %zu samples: loss %.4f, accuracy %.4f",
                rep.model_name.c_str(), rep.samples, rep.loss, rep.accuracy);
  o << buf;
  if (rep.top_k) {
    std::snprintf(buf, sizeof buf, ", top-5 accuracy %.4f", *rep.top_k);
    o << buf;
  }
  o << "\n\n";
  std::size_t w = 9;  // "macro avg"
  for (const auto& c : rep.class_names) w = std::max(w, c.size());
  std::snprintf(buf, sizeof buf, "%*s  %9s  %9s  %9s  %7s\n", int(w), "class", "precision",
                "recall", "f1", "support");
  o << buf;
  for (std::size_t c = 0; c < rep.class_names.size(); ++c) {
    std::snprintf(buf, sizeof buf, "%*s  %9.4f  %9.4f  %9.4f  %7llu\n", int(w),
                  printable(rep.class_names[c]).c_str(), rep.confusion.precision(c),
                  rep.confusion.recall(c), rep.confusion.f1(c),
                  static_cast<unsigned long long>(rep.confusion.support(c)));
    o << buf;
  }
  std::snprintf(buf, sizeof buf, "%*s  %9.4f  %9.4f  %9.4f  %7zu\n", int(w), "macro avg",
                rep.confusion.macro_precision(), rep.confusion.macro_recall(),
                rep.confusion.macro_f1(), rep.samples);
  o << buf << "\nconfusion matrix (rows: true class, columns: predicted)\n";
  std::size_t cw = 6;
  for (const auto& c : rep.class_names) cw = std::max(cw, std::min<std::size_t>(c.size(), 12));
  std::snprintf(buf, sizeof buf, "%*s", int(w), "");
  o << buf;
  for (const auto& c : rep.class_names) {
    std::snprintf(buf, sizeof buf, " %*s", int(cw), printable(c.substr(0, 12)).c_str());
    o << buf;
  }
  o << "\n";
  for (std::size_t t = 0; t < rep.class_names.size(); ++t) {
    std::snprintf(buf, sizeof buf, "%*s", int(w), printable(rep.class_names[t]).c_str());
    o << buf;
    for (std::size_t p = 0; p < rep.class_names.size(); ++p) {
      std::snprintf(buf, sizeof buf, " %*llu", int(cw),
                    static_cast<unsigned long long>(rep.confusion.count(t, p)));
      o << buf;
    }
    o << "\n";
  }
  return o.str();
}

std::string predictions_csv(const EvalReport& rep) {
  auto quote_csv = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream o;
  char buf[32];
  if (rep.classes_shown) {
    o << "file,label";
    for (std::size_t r = 1; r <= rep.classes_shown; ++r)
      o << ",class_" << r << ",probability_" << r;
    o << "\n";
    for (const auto& p : rep.predictions) {
      o << quote_csv(p.name) << ","
        << (p.label ? quote_csv(rep.class_names.at(static_cast<std::size_t>(*p.label))) : "");
      const auto top = top_classes(p, rep.classes_shown);
      for (std::size_t r = 0; r < rep.classes_shown; ++r) {
        if (r < top.size()) {
          std::snprintf(buf, sizeof buf, ",%.6g", p.probabilities[top[r]]);
          o << "," << quote_csv(rep.class_names.at(top[r])) << buf;
        } else {
          o << ",,";
        }
      }
      o << "\n";
    }
    return o.str();
  }
  o << "file,label,predicted";
  for (const auto& c : rep.class_names) o << "," << quote_csv(c);
  o << "\n";
  for (const auto& p : rep.predictions) {
    o << quote_csv(p.name) << ","
      << (p.label ? quote_csv(rep.class_names.at(static_cast<std::size_t>(*p.label))) : "") << ","
      << quote_csv(rep.class_names.at(static_cast<std::size_t>(p.predicted)));
    for (std::size_t c = 0; c < rep.class_names.size(); ++c) {
      std::snprintf(buf, sizeof buf, ",%.6g",
                    c < p.probabilities.size() ? p.probabilities[c] : 0.0f);
      o << buf;
    }
    o << "\n";
  }
  return o.str();
}

std::string predictions_table(const EvalReport& rep) {
  const std::size_t k = rep.classes_shown ? rep.classes_shown : 1;
  std::size_t w = 4;
  for (const auto& p : rep.predictions) w = std::max(w, p.name.size());
  std::ostringstream o;
  char buf[64];
  for (const auto& p : rep.predictions) {
    o << printable(p.name) << std::string(w - p.name.size() + 2, ' ');
    const auto top = top_classes(p, k);
    for (std::size_t r = 0; r < top.size(); ++r) {
      std::snprintf(buf, sizeof buf, "%5.1f%%", 100.0 * p.probabilities[top[r]]);
      o << (r ? "   " : "") << buf << " " << printable(rep.class_names.at(top[r]));
    }
    o << "\n";
  }
  return o.str();
}

}  // namespace cnn::train
