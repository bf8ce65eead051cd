// An ONNX model: converted, then built as a model with every weight copied in (what cnn-import
// onnx writes), and -- when small -- run once.
#include "fuzz.hpp"
#include "io/import.hpp"
#include "io/onnx_import.hpp"
#include "layers/layer.hpp"
#include "model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const std::string path = cnn::fuzz::as_file(data, size, ".onnx");
    const auto imported = cnn::io::import_onnx(path);
    cnn::Model m = cnn::io::build_imported(imported, path);
    std::size_t floats = cnn::numel(m.input_shape());
    for (std::size_t i = 0; i < m.size(); ++i) floats += cnn::numel(m.node(i).out_shape);
    if (floats + m.param_count() > (std::size_t{1} << 22)) return;
    cnn::Tensor x = xt::zeros<float>(cnn::batch_shape(1, m.input_shape()));
    cnn::Context ctx;
    m.forward(ctx, x);
  });
}
