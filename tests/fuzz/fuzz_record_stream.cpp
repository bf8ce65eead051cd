// A record stream (.cnnrec, share/record-stream.md): header, then every record decoded.
#include <vector>

#include "fuzz.hpp"
#include "io/record_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    cnn::io::RecordReader r(cnn::fuzz::as_file(data, size, ".cnnrec"));
    std::vector<std::uint8_t> rec;
    std::vector<float> x(r.header().sample_numel());
    while (r.next(rec)) cnn::io::decode_record(r.header(), rec.data(), x.data());
  });
}
