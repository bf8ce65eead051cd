// The memory budget: the most memory one allocation decided by an input may take (share/limits.md).
// A size read from a file (a model's parameters, a batch of declared samples, an image's pixels,
// a decompressed IDX file) is checked against it before anything is allocated, so that a small
// hostile file is refused in one sentence instead of driving the process out of memory.
// Programs set it from --max-memory; the default is the machine's physical memory.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>

#include "tensor/error.hpp"

namespace cnn {

// A request larger than the budget (exit code 3, as bad input): what, bytes and the budget.
class BudgetError : public Error {
 public:
  BudgetError(const std::string& what, std::size_t bytes, std::size_t budget);
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_;
};

// The budget in bytes (the physical memory until set_memory_budget()).
std::size_t memory_budget();
void set_memory_budget(std::size_t bytes);

// Throws BudgetError when bytes exceed the budget. what names the thing: "file.idx: 60000
// images of 28x28", "model 'vgg': parameters and their gradients".
void check_memory(std::size_t bytes, const std::string& what);
// The same for count elements of elem_size bytes; an overflowing product is over budget too.
void check_memory(std::size_t count, std::size_t elem_size, const std::string& what);
// The same for a check on a hot path (every forward pass): bytes is nullopt for a product that
// overflowed, and what() builds the name only when the request is refused.
template <class What>
void check_memory_lazily(std::optional<std::size_t> bytes, What&& what) {
  const std::size_t budget = memory_budget();
  if (!bytes || *bytes > budget)
    throw BudgetError(what(), bytes.value_or(std::numeric_limits<std::size_t>::max()), budget);
}

// Parses "512M", "8G", "1.5GiB", "2e9", "1000000" (bytes; K/M/G/T are powers of 1024, with or
// without "iB"/"B"); nullopt for anything else or for 0.
std::optional<std::size_t> parse_byte_size(const std::string& text);

// "1.5 GiB", "300 MiB", "812 bytes".
std::string format_bytes(std::size_t bytes);

}  // namespace cnn
