// Keras summary layout: the column positions, wrapping and totals of Keras's print_summary.
#include "model/summary.hpp"

#include <algorithm>
#include <sstream>

namespace cnn {

std::string with_thousands(std::size_t n) {
  const std::string digits = std::to_string(n);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

namespace {

// One table row, wrapped the way Keras wraps it: each column gets (its width - 2) characters
// per line, cut early after "),", "},", "]," or "'," so lists break between their elements.
void print_row(std::ostringstream& out, std::vector<std::string> fields,
               const std::vector<std::size_t>& positions) {
  auto any_left = [&] {
    return std::any_of(fields.begin(), fields.end(),
                       [](const std::string& f) { return !f.empty(); });
  };
  while (any_left()) {
    std::string line;
    for (std::size_t col = 0; col < fields.size(); ++col) {
      const std::size_t start = col > 0 ? positions[col - 1] : 0;
      const std::size_t end = positions[col];
      const std::size_t space = col + 1 != positions.size() ? 2 : 0;
      std::size_t cutoff = end - start - space;
      std::string fit = fields[col].substr(0, cutoff);
      std::size_t best = std::string::npos;
      for (const char* brk : {"),", "},", "],", "',"}) {
        const auto p = fit.find(brk);
        if (p != std::string::npos) best = std::min(best, p + 2);
      }
      if (best != std::string::npos) {
        cutoff = best;
        fit = fit.substr(0, cutoff);
      }
      if (col == 0) line += ' ';
      line += fit;
      line += std::string(space, ' ');
      fields[col] = cutoff < fields[col].size() ? fields[col].substr(cutoff) : std::string();
      if (line.size() < positions[col]) line += std::string(positions[col] - line.size(), ' ');
    }
    out << line << '\n';
  }
}

std::string connections(const Model& m, std::size_t i) {
  std::string s = "[";
  bool first = true;
  for (std::size_t j : m.node(i).inputs) {
    if (!first) s += ", ";
    first = false;
    s += "'" + (j == Model::kModelInput ? m.input_name() : m.node(j).layer->name()) + "[0][0]'";
  }
  return s + "]";
}

}  // namespace

std::string summary_text(const Model& m, const SummaryOptions& opt) {
  const bool seq = m.is_sequential();
  std::size_t line_length = seq ? 65 : 98;
  std::vector<double> rel =
      seq ? std::vector<double>{.45, .85, 1.} : std::vector<double>{.33, .55, .67, 1.};
  std::vector<std::size_t> positions;
  for (double r : rel)
    positions.push_back(static_cast<std::size_t>(static_cast<double>(line_length) * r));
  std::vector<std::string> header = {"Layer (type)", "Output Shape", "Param #"};
  if (!seq) header.push_back("Connected to");
  if (opt.show_trainable) {
    line_length += 11;
    positions.push_back(line_length);
    header.push_back("Trainable");
  }

  std::ostringstream out;
  out << "Model: \"" << m.name() << "\"\n" << std::string(line_length, '_') << '\n';
  print_row(out, header, positions);
  out << std::string(line_length, '=') << '\n';
  if (!seq) {
    std::vector<std::string> f = {m.input_name() + " (InputLayer)",
                                  "[" + shape_str(m.input_shape(), true) + "]", "0", "[]"};
    if (opt.show_trainable) f.push_back("Y");
    print_row(out, f, positions);
    out << std::string(line_length, ' ') << '\n';
  }
  for (std::size_t i = 0; i < m.size(); ++i) {
    const Layer& l = *m.node(i).layer;
    std::vector<std::string> f = {l.name() + " (" + l.type() + ")",
                                  shape_str(m.node(i).out_shape, true),
                                  std::to_string(l.param_count())};
    if (!seq) f.push_back(connections(m, i));
    if (opt.show_trainable) f.push_back(l.trainable() ? "Y" : "N");
    print_row(out, f, positions);
    out << std::string(line_length, ' ') << '\n';
  }
  out << std::string(line_length, '=') << '\n';
  const std::size_t total = m.param_count(), trainable = m.trainable_param_count();
  out << "Total params: " << with_thousands(total) << '\n'
      << "Trainable params: " << with_thousands(trainable) << '\n'
      << "Non-trainable params: " << with_thousands(total - trainable) << '\n'
      << std::string(line_length, '_') << '\n';
  return out.str();
}

json_ordered summary_json(const Model& m) {
  json_ordered j;
  j["name"] = m.name();
  j["input_name"] = m.input_name();
  j["input_shape"] = m.input_shape();
  json_ordered layers = json_ordered::array();
  for (std::size_t i = 0; i < m.size(); ++i) {
    const Layer& l = *m.node(i).layer;
    json_ordered shape = json_ordered::array({nullptr});
    for (auto d : m.node(i).out_shape) shape.push_back(d);
    json_ordered inputs = json_ordered::array();
    for (std::size_t k : m.node(i).inputs)
      inputs.push_back(k == Model::kModelInput ? m.input_name() : m.node(k).layer->name());
    json_ordered weights = json_ordered::array();
    for (const auto& p : l.params())
      weights.push_back({{"name", l.name() + "." + p.name}, {"shape", p.shape}});
    layers.push_back({{"name", l.name()},
                      {"type", l.type()},
                      {"output_shape", shape},
                      {"params", l.param_count()},
                      {"trainable_params", m.layer_trainable_param_count(i)},
                      {"trainable", l.trainable()},
                      {"inputs", inputs},
                      {"weights", weights}});
  }
  j["layers"] = layers;
  j["total_params"] = m.param_count();
  j["trainable_params"] = m.trainable_param_count();
  j["non_trainable_params"] = m.param_count() - m.trainable_param_count();
  return j;
}

}  // namespace cnn
