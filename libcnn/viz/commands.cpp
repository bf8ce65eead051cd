// cnn-visualize's subcommands (see commands.hpp).
#include "viz/commands.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "data/dataset.hpp"
#include "io/architecture.hpp"
#include "io/atomic_file.hpp"
#include "io/image.hpp"
#include "io/import.hpp"
#include "model/summary.hpp"
#include "tensor/error.hpp"
#include "tensor/text.hpp"
#include "train/evaluation.hpp"
#include "viz/activations.hpp"
#include "viz/ascent.hpp"
#include "viz/canvas.hpp"
#include "viz/curves.hpp"
#include "viz/filterbank.hpp"
#include "viz/gradcam.hpp"
#include "viz/grid.hpp"
#include "viz/source.hpp"

namespace cnn::viz {
namespace fs = std::filesystem;

namespace {

std::string ext_of(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

// The class a user means by q: a name, or one of its comma-separated synonyms ("tabby" for
// ImageNet's "tabby, tabby cat"), ignoring case; else the one class with a synonym that q
// begins. nullopt when none (or several) match.
std::optional<std::size_t> find_class(const std::vector<std::string>& names, const std::string& q) {
  const std::string want = lower(q);
  std::optional<std::size_t> prefix;
  bool ambiguous = false;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (lower(names[i]) == want) return i;
    std::stringstream parts(names[i]);
    for (std::string s; std::getline(parts, s, ',');) {
      const auto b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
      if (b == std::string::npos) continue;
      s = lower(s.substr(b, e - b + 1));
      if (s == want) return i;
      if (!want.empty() && s.rfind(want, 0) == 0) {
        ambiguous = ambiguous || (prefix && *prefix != i);
        prefix = i;
      }
    }
  }
  if (ambiguous) return std::nullopt;
  return prefix;
}

// A layer name as a file name: anything but [A-Za-z0-9._-] becomes '_'.
std::string file_stem(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return s;
}

Target open_model(const ModelInput& m, bool need_weights = true) {
  return load_target(m.target, m.weights, std::max<std::size_t>(1, m.threads), !need_weights);
}

std::string percent(float p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%6.2f%%", 100.0 * static_cast<double>(p));
  return buf;
}

// The model input of one sample (floats, HWC) as 8-bit pixels for display: min-max over the
// whole sample, so rescaled inputs show as they were read.
io::Image input_picture(const float* x, const Shape& s) {
  const std::size_t h = s.at(0), w = s.at(1), c = s.size() == 3 ? s[2] : 1;
  const std::size_t n = h * w * c;
  const auto [lo, hi] = std::minmax_element(x, x + n);
  const float scale = *hi > *lo ? 255.0f / (*hi - *lo) : 0.0f;
  io::Image img(h, w, c == 3 ? 3 : 1);
  for (std::size_t p = 0; p < h * w; ++p)
    for (std::size_t ch = 0; ch < img.c; ++ch)
      img.data[p * img.c + ch] =
          static_cast<std::uint8_t>(std::lround((x[p * c + ch] - *lo) * scale));
  return img;
}

}  // namespace

std::string base64(const std::vector<std::uint8_t>& b) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < b.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint32_t>(b[i]) << 16 |
                            (i + 1 < b.size() ? static_cast<std::uint32_t>(b[i + 1]) << 8 : 0) |
                            (i + 2 < b.size() ? b[i + 2] : 0);
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += i + 1 < b.size() ? t[v >> 6 & 63] : '=';
    out += i + 2 < b.size() ? t[v & 63] : '=';
  }
  return out;
}

CommandResult run_curves(const CurvesOptions& o) {
  const std::string e = ext_of(o.output);
  if (e != ".png" && e != ".svg") throw UsageError(o.output, "the output must end in .png or .svg");
  if (!(o.smooth >= 0 && o.smooth < 1)) throw InputError(o.output, "--smooth must be in [0, 1)");
  Outputs::check_file(o.output);
  if (e == ".png") require_font();
  const Figure fig = curves_figure(load_series(o.runs, o.metrics), {o.smooth});
  Outputs out;
  if (e == ".svg")
    out.add(o.output, render_svg(fig));
  else
    out.add(o.output, io::encode_png(render_png(fig)));
  return {out.commit(), {}};
}

CommandResult run_kernels(const KernelsOptions& o) {
  Outputs::check_file(o.output);
  Target t = open_model(o.model);
  const std::size_t node = find_conv_layer(t.model, o.layer, t.model_path, true, "kernels");
  Outputs out;
  out.add(o.output, io::encode_png(kernels_picture(t.model, node).image));
  return {out.commit(), {}};
}

CommandResult run_activations(const ActivationsOptions& o) {
  Target t = open_model(o.model);
  std::vector<std::size_t> nodes;
  for (const auto& name : o.layers) {
    const std::size_t i = find_layer(t.model, name, t.model_path);
    const Model::Node& n = t.model.node(i);
    if (n.out_shape.size() != 3)
      throw ConfigError(
          t.model_path, "", name,
          "activations are drawn for outputs (h, w, c); this layer's is " + shape_str(n.out_shape));
    nodes.push_back(i);
  }
  if (o.layers.empty()) nodes = spatial_layers(t.model);
  if (nodes.empty())
    throw ConfigError(t.model_path, "", "", "no layer has an (h, w, c) output to draw");
  const bool one_file = ext_of(o.output) == ".png";
  Outputs out;
  if (one_file)
    Outputs::check_file(o.output);
  else
    out.prepare_dir(o.output);
  const Tensor x = load_input(t, o.image);
  Context ctx;
  t.model.forward(ctx, x);
  std::vector<io::Image> parts;
  for (std::size_t i : nodes) {
    LayerPicture pic = activation_picture(t.model, i, o.cols);
    if (one_file)
      parts.push_back(std::move(pic.image));
    else
      out.add((fs::path(o.output) / (file_stem(pic.layer) + ".png")).string(),
              io::encode_png(pic.image));
  }
  if (one_file) out.add(o.output, io::encode_png(stack_vertically(parts)));
  return {out.commit(), {}};
}

CommandResult run_filters(const FiltersOptions& o) {
  Outputs::check_file(o.output);
  Target t = open_model(o.model);
  const std::size_t node = find_conv_layer(t.model, o.layer, t.model_path, true, "filters");
  AscentOptions a;
  a.layer = node;
  a.first = o.first;
  a.last = o.last;
  a.steps = o.steps;
  a.step_size = o.step_size;
  a.size = o.size;
  a.rescale = t.image_options.rescale.value_or(1.0f);
  a.seed = o.seed;
  AscentResult r;
  try {
    r = gradient_ascent(t.model, a);
  } catch (const ConfigError& e) {
    throw e.with_file(t.model_path);
  }
  std::vector<std::string> labels;
  for (std::size_t f : r.filters) labels.push_back(std::to_string(f));
  const io::Image& first = r.images.front();
  const GridLayout g = grid_layout(r.images.size(), first.w, first.h, o.cols, 64, true, true);
  const std::string title =
      t.model.node(node).layer->name() + " filters " + std::to_string(r.filters.front()) + ":" +
      std::to_string(r.filters.back() + 1) + ", " + std::to_string(o.steps) + " steps";
  Outputs out;
  out.add(o.output, io::encode_png(render_grid(g, r.images, labels, title)));
  CommandResult res{out.commit(), {}};
  for (std::size_t k = 0; k < r.filters.size(); ++k) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "filter %zu: mean activation %.4g -> %.4g", r.filters[k],
                  r.objective[k].front(), r.objective[k].back());
    res.notes.push_back(buf);
  }
  return res;
}

CommandResult run_cam(const CamOptions& o) {
  Target t = open_model(o.model);
  const std::size_t conv = find_conv_layer(t.model, o.layer, t.model_path, false, "cam");
  std::vector<std::string> names =
      o.classes ? io::read_class_names(*o.classes, &t.model) : t.class_names;
  Outputs out;
  out.prepare_dir(o.output);
  const Tensor x = load_input(t, o.image);
  const io::Image photo = io::read_image(o.image, io::ColorMode::rgb);
  std::optional<std::size_t> cls;
  if (o.cls) {
    const std::string& c = *o.cls;
    const bool numeric =
        !c.empty() && c.size() < 10 &&
        std::all_of(c.begin(), c.end(), [](unsigned char ch) { return std::isdigit(ch); });
    cls = find_class(names, c);
    if (!cls && numeric) cls = static_cast<std::size_t>(std::stoul(c));
    if (!cls)
      throw ConfigError(
          o.classes ? *o.classes : t.model_path, "", "",
          "no class is named " + quote(c) + (names.empty() ? "; give an index or --classes" : ""));
  }
  CamResult r;
  try {
    r = grad_cam(t.model, x, conv, cls);
  } catch (const ConfigError& e) {
    throw e.with_file(t.model_path);
  }
  auto name_of = [&](std::size_t i) { return i < names.size() ? names[i] : std::to_string(i); };
  const std::size_t scale =
      std::max<std::size_t>(1, (224 + std::max(r.h, r.w) - 1) / std::max(r.h, r.w));
  const fs::path dir(o.output);
  out.add((dir / "heatmap.png").string(),
          io::encode_png(heatmap_image(r.heatmap, r.h, r.w, scale)));
  out.add((dir / "superimposed.png").string(),
          io::encode_png(superimpose(photo, r.heatmap, r.h, r.w, 0.4f)));
  std::vector<std::size_t> order(r.probabilities.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return r.probabilities[a] > r.probabilities[b];
  });
  order.resize(std::min<std::size_t>(5, order.size()));
  json_ordered j;
  j["image"] = o.image;
  j["layer"] = t.model.node(conv).layer->name();
  j["class"] = {{"index", r.class_index}, {"name", name_of(r.class_index)}};
  json_ordered top = json_ordered::array();
  CommandResult res;
  res.notes.push_back("Grad-CAM of class " + name_of(r.class_index) + " at layer " +
                      t.model.node(conv).layer->name());
  for (std::size_t i : order) {
    top.push_back({{"index", i}, {"name", name_of(i)}, {"probability", r.probabilities[i]}});
    res.notes.push_back(percent(r.probabilities[i]) + "  " + name_of(i));
  }
  j["top5"] = top;
  out.add((dir / "predictions.json").string(), j.dump(2) + "\n");
  res.files = out.commit();
  return res;
}

CommandResult run_filterbank(const FilterbankOptions& o) {
  Outputs::check_file(o.output);
  require_font();
  constexpr double kPi = 3.14159265358979323846;
  std::vector<Kernel2D> bank;
  if (o.kernel == "sobel") {
    bank = sobel_kernels();
  } else if (o.kernel == "prewitt") {
    bank = prewitt_kernels();
  } else if (o.kernel == "haar") {
    bank = haar_kernels(o.haar_size);
  } else if (o.kernel == "gabor") {
    if (!(o.gabor_frequency > 0 && o.gabor_frequency <= 0.5))
      throw InputError(o.image, "--gabor-frequency must be in (0, 0.5] cycles per pixel");
    const double sigma = o.gabor_sigma ? *o.gabor_sigma : gabor_default_sigma(o.gabor_frequency);
    if (!(sigma > 0 && sigma <= 50)) throw InputError(o.image, "--gabor-sigma must be in (0, 50]");
    std::vector<double> thetas;
    if (o.gabor_theta)
      thetas.push_back(*o.gabor_theta * kPi / 180.0);
    else
      for (std::size_t k = 0; k < std::max<std::size_t>(1, o.orientations); ++k)
        thetas.push_back(kPi * static_cast<double>(k) /
                         static_cast<double>(std::max<std::size_t>(1, o.orientations)));
    bank = gabor_kernels(o.gabor_frequency, sigma, thetas);
  } else {
    bank = {read_kernel_file(o.kernel)};
  }
  const io::Image g = io::read_image(o.image, io::ColorMode::grayscale);
  std::vector<float> img(g.data.begin(), g.data.end());
  const auto responses = apply_bank(img, g.h, g.w, bank);
  Outputs out;
  out.add(o.output, io::encode_png(filterbank_picture(g, bank, responses, o.cols)));
  return {out.commit(), {}};
}

namespace {

void report_head(std::ostream& h, const std::string& title) {
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << xml_escape(title)
    << "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
       "pre{background:#f6f6f6;padding:1em;overflow-x:auto}table.cm{border-collapse:collapse}"
       "table.cm td,table.cm th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
       ".cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid "
       "#ddd;padding:6px;font-size:small}"
       ".card "
       "img{image-rendering:pixelated;width:128px;display:block}.wrong{color:#c00}</style></"
       "head>\n<body>\n";
}

// The validation dataset the run's train.json records, if any.
std::optional<std::string> recorded_validation(const std::string& run_dir) {
  const std::string tj = (fs::path(run_dir) / "train.json").string();
  if (!fs::exists(tj)) return std::nullopt;
  const json saved = io::read_json(tj);
  if (saved.is_object() && saved.contains("data") && saved.at("data").is_object() &&
      saved.at("data").contains("validation") && saved.at("data").at("validation").is_string())
    return saved.at("data").at("validation").get<std::string>();
  return std::nullopt;
}

void report_confusion(std::ostream& h, const train::EvalReport& rep) {
  h << "<h3>Confusion matrix</h3>\n<table class=\"cm\"><tr><th>true \\ predicted</th>";
  for (const auto& c : rep.class_names) h << "<th>" << xml_escape(c) << "</th>";
  h << "</tr>\n";
  for (std::size_t a = 0; a < rep.class_names.size(); ++a) {
    h << "<tr><th>" << xml_escape(rep.class_names[a]) << "</th>";
    for (std::size_t b = 0; b < rep.class_names.size(); ++b) {
      const auto n = rep.confusion.count(a, b);
      const double share =
          rep.confusion.support(a)
              ? static_cast<double>(n) / static_cast<double>(rep.confusion.support(a))
              : 0.0;
      const int shade = 255 - static_cast<int>(std::lround(share * 155));
      h << "<td style=\"background:rgb(" << shade << "," << shade << ",255)\">" << n << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n";
}

// The samples the report shows, spread over the dataset (class folders are stored class by
// class), with their class names.
struct ReportSamples {
  const data::Dataset& ds;
  std::vector<std::size_t> picks;
  const std::vector<std::string>& class_names;
  std::string name_of(std::size_t c) const {
    return c < class_names.size() ? class_names[c] : std::to_string(c);
  }
  // Sample k of the picks as a batch of one; its label into label, its values into values.
  Tensor load(std::size_t k, const Shape& input, std::vector<float>& values,
              std::int32_t& label) const {
    values.resize(ds.sample_numel());
    ds.load(picks[k], values.data(), label, 0);
    Tensor x;
    ensure_shape(x, batch_shape(1, input));
    std::copy(values.begin(), values.end(), x.begin());
    return x;
  }
};

void report_predictions(std::ostream& h, Target& t, const ReportSamples& s, std::size_t n,
                        bool pictures) {
  const Shape& in_shape = t.model.input_shape();
  std::vector<float> values;
  h << "<h3>Sample predictions</h3>\n<div class=\"cards\">\n";
  Context ctx;
  for (std::size_t k = 0; k < n; ++k) {
    std::int32_t label = 0;
    const Tensor x = s.load(k, in_shape, values, label);
    const Tensor& y = t.model.forward(ctx, x);
    std::size_t pred;
    float p;
    if (y.size() == 1) {
      pred = y.data()[0] > 0.5f ? 1 : 0;
      p = pred ? y.data()[0] : 1 - y.data()[0];
    } else {
      pred = static_cast<std::size_t>(std::max_element(y.data(), y.data() + y.size()) - y.data());
      p = y.data()[pred];
    }
    const bool right = static_cast<std::size_t>(label) == pred;
    h << "<div class=\"card\">";
    if (pictures)
      h << "<img alt=\"sample\" src=\"data:image/png;base64,"
        << base64(io::encode_png(input_picture(values.data(), in_shape))) << "\">";
    else
      h << "sample " << s.picks[k] << "<br>";
    h << "<span" << (right ? "" : " class=\"wrong\"") << ">" << xml_escape(s.name_of(pred)) << " "
      << percent(p) << "</span><br>true: " << xml_escape(s.name_of(static_cast<std::size_t>(label)))
      << "</div>\n";
  }
  h << "</div>\n";
}

// Grad-CAM at the last Conv2D layer.
void report_cams(std::ostream& h, Target& t, const ReportSamples& s, std::size_t count,
                 bool pictures) {
  h << "<h3>Class activation maps</h3>\n";
  std::optional<std::size_t> conv;
  if (!pictures) {
    h << "<p>Grad-CAM needs an image input; this model's input is "
      << xml_escape(shape_str(t.model.input_shape())) << ".</p>\n";
  } else {
    try {
      conv = find_conv_layer(t.model, std::nullopt, t.model_path, false, "Grad-CAM");
    } catch (const ConfigError&) {
      h << "<p>The model has no Conv2D layer.</p>\n";
    }
  }
  if (!conv) return;
  h << "<p>Layer <code>" << xml_escape(t.model.node(*conv).layer->name())
    << "</code>, predicted class, jet colour map at 0.4 opacity.</p>\n<div class=\"cards\">\n";
  std::vector<float> values;
  for (std::size_t k = 0; k < std::min(count, s.picks.size()); ++k) {
    std::int32_t label = 0;
    const Tensor x = s.load(k, t.model.input_shape(), values, label);
    const CamResult r = grad_cam(t.model, x, *conv, std::nullopt);
    io::Image pic = to_rgb(input_picture(values.data(), t.model.input_shape()));
    h << "<div class=\"card\"><img alt=\"Grad-CAM\" src=\"data:image/png;base64,"
      << base64(io::encode_png(superimpose(pic, r.heatmap, r.h, r.w, 0.4f))) << "\">"
      << xml_escape(s.name_of(r.class_index)) << " " << percent(r.probabilities[r.class_index])
      << "<br>true: " << xml_escape(s.name_of(static_cast<std::size_t>(label))) << "</div>\n";
  }
  h << "</div>\n";
}

// Evaluation on spec: the scores, the confusion matrix, sample predictions, Grad-CAM.
void report_evaluation(std::ostream& h, Target& t, const ReportOptions& o, const std::string& spec,
                       CommandResult& res) {
  train::EvalOptions eo;
  eo.run_dir = o.run_dir;
  eo.data = spec;
  eo.threads = o.threads;
  eo.mnist_dir = CNN_DEFAULT_MNIST_DIR;
  eo.predictions = true;
  const train::EvalReport rep = train::run_evaluation(eo);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%zu samples of <code>%s</code>: loss %.4f, accuracy %.4f",
                rep.samples, xml_escape(spec).c_str(), rep.loss, rep.accuracy);
  h << "<p>" << buf << "</p>\n";
  report_confusion(h, rep);
  // Samples, read as the model reads them.
  data::DatasetOptions dopt = t.image_options;
  if (dopt.classes.empty() && fs::is_directory(spec)) dopt.classes = t.class_names;
  dopt.mnist_dir = CNN_DEFAULT_MNIST_DIR;
  const auto ds = data::open_dataset(spec, dopt);
  const std::size_t n = std::min(o.samples, ds->size());
  // Pictures (sample images, Grad-CAM) need an image input; a feature-vector model (a Dense
  // head on extracted features) gets its predictions without them.
  const Shape& in_shape = t.model.input_shape();
  const bool pictures = in_shape.size() == 3 || in_shape.size() == 2;
  if (!pictures) {
    h << "<p>The model's input is a vector " << xml_escape(shape_str(in_shape))
      << ", not an image: the samples are shown without pictures, and there are no class "
         "activation maps.</p>\n";
    res.notes.push_back("the model's input " + shape_str(in_shape) +
                        " is not an image: no sample pictures and no Grad-CAM");
  }
  ReportSamples samples{*ds, {}, rep.class_names};
  const std::size_t shown = std::max<std::size_t>(1, std::max(n, std::min(o.cams, ds->size())));
  for (std::size_t k = 0; k < std::max(n, std::min(o.cams, ds->size())); ++k)
    samples.picks.push_back(k * ds->size() / shown);
  report_predictions(h, t, samples, n, pictures);
  report_cams(h, t, samples, o.cams, pictures);
}

}  // namespace

CommandResult run_report(const ReportOptions& o) {
  if (ext_of(o.output) != ".html" && ext_of(o.output) != ".htm")
    throw UsageError(o.output, "the output must end in .html");
  Outputs::check_file(o.output);
  if (!fs::is_directory(o.run_dir)) throw InputError(o.run_dir, "is not a run directory");
  CommandResult res;
  Target t = open_model({o.run_dir, "", o.threads});
  std::ostringstream h;
  const std::string title =
      "cnn report: " + fs::path(o.run_dir).lexically_normal().filename().string();
  report_head(h, title);
  h << "<h1>" << xml_escape(title) << "</h1>\n<p>Run directory <code>" << xml_escape(o.run_dir)
    << "</code>, model <code>" << xml_escape(t.model.name()) << "</code>.</p>\n";
  // The summary of the model as trained (load_target froze every layer for the gradients).
  h << "<h2>Model</h2>\n<pre>" << xml_escape(summary_text(io::load_model(t.model_path)))
    << "</pre>\n";

  h << "<h2>Learning curves</h2>\n";
  try {
    h << render_svg(curves_figure(load_series({o.run_dir}, {}), {0.0}), SvgSize::fluid);
  } catch (const Error& e) {
    h << "<p>No learning curves: " << xml_escape(e.what()) << "</p>\n";
    res.notes.push_back(std::string("no learning curves: ") + e.what());
  }

  // Evaluation on the validation data (or --data).
  const std::optional<std::string> spec = o.data ? o.data : recorded_validation(o.run_dir);
  h << "<h2>Evaluation</h2>\n";
  if (spec) {
    report_evaluation(h, t, o, *spec, res);
  } else {
    h << "<p>No validation data is recorded in the run; give <code>--data</code>.</p>\n";
    res.notes.push_back("no validation data: the evaluation sections are left out (give --data)");
  }
  h << "</body></html>\n";
  Outputs out;
  out.add(o.output, h.str());
  res.files = out.commit();
  return res;
}

}  // namespace cnn::viz
