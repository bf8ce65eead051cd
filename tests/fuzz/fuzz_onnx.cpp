// An ONNX model: converted, then built as a model with every weight copied in (what cnn-import
// onnx writes), and -- when small -- run once.
#include "fuzz.hpp"
#include "io/import.hpp"
#include "io/onnx_import.hpp"
#include "model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const std::string path = cnn::fuzz::as_file(data, size, ".onnx");
    const auto imported = cnn::io::import_onnx(path);
    cnn::Model m = cnn::io::build_imported(imported, path);
    cnn::fuzz::run_when_small(m, 1);
  });
}
