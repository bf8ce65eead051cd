// The fuzz targets without libFuzzer: runs each file named on the command line once through
// LLVMFuzzerTestOneInput, so the normal test suite replays tests/corpus/ (ctest) with gcc and
// under the sanitizers. Prints the file before running it: a crash names its input.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // libFuzzer's flags (replay.sh passes the same to both)
    std::fprintf(stderr, "replay %s\n", argv[i]);
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  return 0;
}
