// A NumPy .npy array (cnn-import npy's weights).
#include "fuzz.hpp"
#include "io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] { cnn::io::parse_npy(data, size, "fuzz.npy"); });
}
