// Architecture JSON (model.json): parse, build, and -- when small -- run one forward pass, so
// that shapes the file declares meet real buffers.
#include <string>

#include "fuzz.hpp"
#include "io/architecture.hpp"
#include "model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    cnn::Model m =
        cnn::io::parse_model(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    cnn::fuzz::run_when_small(m, 2);
  });
}
