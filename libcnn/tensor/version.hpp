// The toolchain's version: CMake's project version (the one source of truth), as every
// program's --version prints it and model.json and weights files record it ("cnn_version").
#pragma once

namespace cnn {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
const char* version() noexcept;

}  // namespace cnn
