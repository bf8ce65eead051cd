// Checked reading of one JSON object (a layer block, a recipe): every access knows its JSON
// pointer, wrong types and values throw ConfigError naming file, layer and field, and finish()
// rejects keys nobody read. Never use nlohmann's operator[] on configs (it inserts or is UB).
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tensor/error.hpp"

namespace cnn {

using json = nlohmann::json;
using json_ordered = nlohmann::ordered_json;

// Levenshtein distance (insertions, deletions, substitutions; letters compared ignoring case),
// for "did you mean" hints.
std::size_t edit_distance(const std::string& a, const std::string& b);
// Index of the closest string in choices by edit distance (for "did you mean" hints).
std::string nearest(const std::string& word, const std::vector<std::string>& choices);
// "one of a, b, c (did you mean b?)".
std::string choices_hint(const std::string& got, const std::vector<std::string>& choices);
// An object key as one JSON pointer token (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string json_pointer_token(const std::string& key);

class ConfigReader {
 public:
  // obj must outlive the reader. pointer is the JSON pointer of obj itself ("/layers/3").
  ConfigReader(const json& obj, std::string file, std::string pointer, std::string layer);

  const std::string& file() const { return file_; }
  const std::string& pointer() const { return pointer_; }
  const std::string& layer() const { return layer_; }
  void set_layer(std::string layer) { layer_ = std::move(layer); }

  bool has(const std::string& key) const;
  // Marks a key as read without reading it (keys handled elsewhere).
  void accept(const std::string& key);

  // Integers: whole JSON numbers within [min, max].
  long get_int(const std::string& key, std::optional<long> def, long min = LONG_MIN,
               long max = LONG_MAX);
  double get_number(const std::string& key, std::optional<double> def, double min = -1e300,
                    double max = 1e300);
  bool get_bool(const std::string& key, std::optional<bool> def);
  std::string get_string(const std::string& key, std::optional<std::string> def);
  // A string that must be one of choices; the error lists them and the nearest one.
  std::string get_choice(const std::string& key, std::optional<std::string> def,
                         const std::vector<std::string>& choices);
  // Sizes (get_pair, get_int_list) are at most this (share/limits.md): sums and products of a
  // few of them cannot wrap around before the model checks its shapes.
  static constexpr long kMaxSizeValue = 1L << 31;
  // An int n (meaning [n, n]) or a list of two ints, each within [min, kMaxSizeValue].
  std::array<long, 2> get_pair(const std::string& key, std::optional<std::array<long, 2>> def,
                               long min);
  // A list of ints.
  std::vector<long> get_int_list(const std::string& key, std::optional<std::vector<long>> def,
                                 long min);
  // The raw value (marked read), or nullptr when absent.
  const json* get_raw(const std::string& key);

  // Throws for the first key that was never read, listing the valid keys.
  void finish() const;

  // A ConfigError about key (or about the object itself when key is empty).
  ConfigError error(const std::string& key, const std::string& problem) const;

 private:
  const json* find(const std::string& key);
  const json& obj_;
  std::string file_, pointer_, layer_;
  std::set<std::string> read_;
};

// A short text of a JSON value for messages, e.g. "\"foo\"" or "[3, 3]".
std::string json_brief(const json& v);

// Arrays and objects nested deeper than this are refused when parsing (every JSON reader
// goes through parse_json), so no later recursion over a value can exhaust the stack.
constexpr std::size_t kMaxJsonDepth = 256;

// The one JSON parser of libcnn: every JSON file and header is read through it. text is named
// file in errors. A syntax error, nesting deeper than kMaxJsonDepth, or a number out of
// double's range throws ConfigError located "file:line:column: not valid JSON: ..." (exit 3).
json parse_json(const std::string& text, const std::string& file);
// A value typed on the command line (--set KEY=VALUE, a setting's flag): its JSON, or, when it
// is not JSON, the text itself as a string (a bare word such as nearest).
json parse_json_or_text(const std::string& text);
// The same for JSON embedded in a binary file at byte offset base (safetensors and record
// stream headers): FormatError "header is not valid JSON: ..." at the byte offset of the problem.
// check, when set, sees every parsed key (nlohmann's parser callback) and may throw to refuse the
// text.
json parse_json_at(const std::string& text, const std::string& file, std::uint64_t base,
                   const json::parser_callback_t& check = nullptr);

}  // namespace cnn
