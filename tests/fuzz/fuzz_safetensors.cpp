// A safetensors weights file: header JSON, offsets, dtypes; every F32 tensor read.
#include "fuzz.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const auto f = cnn::io::read_safetensors(cnn::fuzz::as_file(data, size, ".safetensors"));
    for (const auto& t : f.tensors)
      if (t.dtype == "F32") f.read_f32(t);
  });
}
