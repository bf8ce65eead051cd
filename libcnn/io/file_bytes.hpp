// Whole-file reads and atomic whole-file writes, shared by the binary readers (IDX, images)
// and the image encoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnn::io {

// Reads the whole file into memory.
// Throws InputError when it cannot be opened or read (missing, a directory, no permission).
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

// Writes size bytes to path through a temporary file in the same directory and rename(2), so
// readers see either the old file or the complete new one.
// Throws IoError (path, operation, strerror) and leaves no temporary file behind on failure.
void write_bytes_atomically(const std::string& path, const void* data, std::size_t size);

}  // namespace cnn::io
