// Architecture JSON (model.json): parse, build, and -- when small -- run one forward pass, so
// that shapes the file declares meet real buffers.
#include <string>

#include "fuzz.hpp"
#include "io/architecture.hpp"
#include "layers/layer.hpp"
#include "model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    cnn::Model m = cnn::io::parse_model(std::string(reinterpret_cast<const char*>(data), size),
                                        "fuzz.json");
    std::size_t floats = cnn::numel(m.input_shape());
    for (std::size_t i = 0; i < m.size(); ++i) floats += cnn::numel(m.node(i).out_shape);
    if (floats + m.param_count() > (std::size_t{1} << 22)) return;
    cnn::Tensor x = xt::zeros<float>(cnn::batch_shape(2, m.input_shape()));
    cnn::Context ctx;
    m.forward(ctx, x);
  });
}
