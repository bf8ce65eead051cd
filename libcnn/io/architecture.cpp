// Architecture JSON files: parse with line:column errors, build, write atomically.
#include "io/architecture.hpp"

#include <algorithm>

#include "io/atomic_file.hpp"

namespace cnn::io {

json parse_json(const std::string& text, const std::string& file) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte position (1-based, just past the problem); turn it into line:col.
    std::size_t line = 1, col = 1;
    const std::size_t stop = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    for (std::size_t i = 0; i < stop; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix.
    const auto colon = what.find(": ");
    if (colon != std::string::npos) what = what.substr(colon + 2);
    throw ConfigError(file + ":" + std::to_string(line) + ":" + std::to_string(col), "", "",
                      "not valid JSON: " + what);
  }
}

Model parse_model(const std::string& text, const std::string& file) {
  return Model::from_json(parse_json(text, file), file);
}

Model load_model(const std::string& path) { return parse_model(read_file(path), path); }

void save_model(const Model& model, const std::string& path) {
  write_file_atomically(path, model.to_json().dump(2) + "\n");
}

}  // namespace cnn::io
