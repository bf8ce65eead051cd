// ConfigReader: typed, pointer-tracking access to JSON configuration objects.
#include "tensor/config.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>

#include "tensor/text.hpp"

namespace cnn {
std::string json_pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest(const std::string& word, const std::vector<std::string>& choices) {
  // A word that begins a choice is a short form of it ("fire9" -> "fire9_concat", the last
  // layer of that block when the choices are in model order).
  std::string prefixed;
  if (word.size() >= 2)
    for (const auto& c : choices)
      if (c.size() > word.size() && c.compare(0, word.size(), word) == 0) prefixed = c;
  if (!prefixed.empty()) return prefixed;
  std::string best;
  std::size_t best_d = SIZE_MAX;
  for (const auto& c : choices) {
    const auto d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Only suggest when the guess is plausibly a typo.
  if (best_d > std::max<std::size_t>(2, word.size() / 3)) return {};
  return best;
}

std::string choices_hint(const std::string& got, const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  std::string m = "expected one of " + list;
  const auto n = nearest(got, choices);
  if (!n.empty()) m += " (did you mean '" + n + "'?)";
  return m;
}

std::string json_brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

namespace {

struct JsonProblem {
  std::size_t byte;  // 0-based offset in the text
  std::string what;
};

// Where the nesting first exceeds kMaxJsonDepth (outside strings), if it does. Linear, so a
// hostile file costs one pass before nlohmann sees it.
std::optional<std::size_t> too_deep_at(const std::string& text) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 2: " prefix, and short.
std::string short_what(const std::string& what) {
  std::string s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    const auto close = s.find("] ");
    if (close != std::string::npos) s = s.substr(close + 2);
    const auto colon = s.find(": ");
    if (s.rfind("parse error", 0) == 0 && colon != std::string::npos) s = s.substr(colon + 2);
  }
  if (s.size() > 160) s = s.substr(0, 157) + "...";
  return printable(s);
}

std::optional<JsonProblem> try_parse(const std::string& text, json& out,
                                     const json::parser_callback_t& check) {
  if (const auto at = too_deep_at(text))
    return JsonProblem{*at, "nested more than " + std::to_string(kMaxJsonDepth) + " levels deep"};
  try {
    out = json::parse(text, check);
  } catch (const json::parse_error& e) {
    return JsonProblem{e.byte > 0 ? e.byte - 1 : 0, short_what(e.what())};
  } catch (const json::exception& e) {
    // out_of_range 406, "number overflow parsing '1e999'", carries no position: find the token.
    const std::string what = e.what();
    std::size_t at = 0;
    const auto open = what.find('\''), close = what.rfind('\'');
    if (open != std::string::npos && close > open + 1) {
      const auto found = text.find(what.substr(open + 1, close - open - 1));
      if (found != std::string::npos) at = found;
    }
    return JsonProblem{at, short_what(what)};
  }
  return std::nullopt;
}

}  // namespace

json parse_json(const std::string& text, const std::string& file) {
  json j;
  const auto problem = try_parse(text, j, nullptr);
  if (!problem) return j;
  std::size_t line = 1, col = 1;
  const std::size_t stop = std::min(problem->byte, text.size());
  for (std::size_t i = 0; i < stop; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  throw ConfigError(file + ":" + std::to_string(line) + ":" + std::to_string(col), "", "",
                    "not valid JSON: " + problem->what);
}

json parse_json_or_text(const std::string& text) {
  json j;
  if (try_parse(text, j, nullptr)) return json(text);
  return j;
}

json parse_json_at(const std::string& text, const std::string& file, std::uint64_t base,
                   const json::parser_callback_t& check) {
  json j;
  const auto problem = try_parse(text, j, check);
  if (!problem) return j;
  throw FormatError(file, base + problem->byte, "header is not valid JSON: " + problem->what);
}

ConfigReader::ConfigReader(const json& obj, std::string file, std::string pointer,
                           std::string layer)
    : obj_(obj), file_(std::move(file)), pointer_(std::move(pointer)), layer_(std::move(layer)) {
  if (!obj_.is_object())
    throw ConfigError(file_, pointer_, layer_, "expected a JSON object, got " + json_brief(obj_));
}

ConfigError ConfigReader::error(const std::string& key, const std::string& problem) const {
  return ConfigError(file_, key.empty() ? pointer_ : pointer_ + "/" + json_pointer_token(key),
                     layer_, problem);
}

bool ConfigReader::has(const std::string& key) const { return obj_.contains(key); }

void ConfigReader::accept(const std::string& key) { read_.insert(key); }

const json* ConfigReader::find(const std::string& key) {
  read_.insert(key);
  auto it = obj_.find(key);
  if (it == obj_.end()) return nullptr;
  return &*it;
}

const json* ConfigReader::get_raw(const std::string& key) { return find(key); }

long ConfigReader::get_int(const std::string& key, std::optional<long> def, long min, long max) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  long x = 0;
  if (v->is_number_integer()) {
    x = v->get<long>();
  } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 1e15) {
    x = static_cast<long>(v->get<double>());
  } else {
    throw error(key, "expected an integer, got " + json_brief(*v));
  }
  if (x < min || x > max) {
    std::string range = max == LONG_MAX
                            ? ">= " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    throw error(key, "expected an integer " + range + ", got " + std::to_string(x));
  }
  return x;
}

double ConfigReader::get_number(const std::string& key, std::optional<double> def, double min,
                                double max) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  if (!v->is_number()) throw error(key, "expected a number, got " + json_brief(*v));
  const double x = v->get<double>();
  if (!(x >= min && x <= max))
    throw error(key, "expected a number between " + json(min).dump() + " and " + json(max).dump() +
                         ", got " + json_brief(*v));
  return x;
}

bool ConfigReader::get_bool(const std::string& key, std::optional<bool> def) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  if (!v->is_boolean()) throw error(key, "expected true or false, got " + json_brief(*v));
  return v->get<bool>();
}

std::string ConfigReader::get_string(const std::string& key, std::optional<std::string> def) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  if (!v->is_string()) throw error(key, "expected a string, got " + json_brief(*v));
  return v->get<std::string>();
}

std::string ConfigReader::get_choice(const std::string& key, std::optional<std::string> def,
                                     const std::vector<std::string>& choices) {
  auto s = get_string(key, std::move(def));
  if (std::find(choices.begin(), choices.end(), s) == choices.end())
    throw error(key, "unknown value '" + s + "'; " + choices_hint(s, choices));
  return s;
}

std::array<long, 2> ConfigReader::get_pair(const std::string& key,
                                           std::optional<std::array<long, 2>> def, long min) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  auto check = [&](const json& e) {
    if (!e.is_number_integer())
      throw error(key, "expected an integer or a list of 2 integers, got " + json_brief(*v));
    const long x = e.get<long>();
    if (x < min)
      throw error(key, "expected values >= " + std::to_string(min) + ", got " + json_brief(*v));
    if (x > kMaxSizeValue)
      throw error(key, "expected values <= " + std::to_string(kMaxSizeValue) +
                           " (share/limits.md), got " + json_brief(*v));
    return x;
  };
  if (v->is_array()) {
    if (v->size() != 2) throw error(key, "expected a list of 2 integers, got " + json_brief(*v));
    return {check((*v)[0]), check((*v)[1])};
  }
  const long x = check(*v);
  return {x, x};
}

std::vector<long> ConfigReader::get_int_list(const std::string& key,
                                             std::optional<std::vector<long>> def, long min) {
  const json* v = find(key);
  if (!v) {
    if (!def) throw error(key, "missing required field");
    return *def;
  }
  if (!v->is_array()) throw error(key, "expected a list of integers, got " + json_brief(*v));
  std::vector<long> out;
  for (const auto& e : *v) {
    if (!e.is_number_integer() || e.get<long>() < min || e.get<long>() > kMaxSizeValue)
      throw error(key, "expected a list of integers from " + std::to_string(min) + " to " +
                           std::to_string(kMaxSizeValue) + ", got " + json_brief(*v));
    out.push_back(e.get<long>());
  }
  return out;
}

void ConfigReader::finish() const {
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    if (read_.count(it.key())) continue;
    std::vector<std::string> valid(read_.begin(), read_.end());
    throw error(it.key(), "unknown field; " + choices_hint(it.key(), valid));
  }
}

}  // namespace cnn
