// An IDX file (MNIST format), raw or gzipped (gzip's magic picks the reader's .gz path).
#include "fuzz.hpp"
#include "io/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (gz)
      cnn::io::read_idx(cnn::fuzz::as_file(data, size, ".gz"));
    else
      cnn::io::parse_idx(data, size, "fuzz.idx");
  });
}
