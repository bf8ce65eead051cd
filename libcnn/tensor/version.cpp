#include "tensor/version.hpp"

namespace cnn {

// CNN_VERSION comes from the build (libcnn/CMakeLists.txt), for this file only.
const char* version() noexcept { return CNN_VERSION; }

}  // namespace cnn
