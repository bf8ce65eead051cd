// Images (JPEG, PNG, BMP, PNM): probe, then decode natively and as grayscale.
#include "fuzz.hpp"
#include "io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const auto info = cnn::io::probe_image(data, size, "fuzz.img");
    cnn::io::looks_complete(data, size, info);
    cnn::io::decode_image(data, size, "fuzz.img");
    cnn::io::decode_image(data, size, "fuzz.img", cnn::io::ColorMode::grayscale);
  });
}
