// Test support: data from outside the tree (../shared/data, Debian's dataset packages). A test
// case that needs it starts with `if (!have_data(path)) return;`: when the path is absent the
// case says so ("SKIPPED: ...", which ctest reports as a skip) instead of failing.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace cnn::test {

// A path under ../shared/data.
inline std::string shared_data(const std::string& relative) {
  return std::string(CNN_SHARED_DATA) + "/" + relative;
}

inline bool have_data(const std::string& path) {
  if (std::filesystem::exists(path)) return true;
  MESSAGE("SKIPPED: " << path << " is absent (../shared/data, or a Debian dataset package)");
  return false;
}

}  // namespace cnn::test
