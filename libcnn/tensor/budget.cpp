#include "tensor/budget.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace cnn {

namespace {

std::size_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::size_t{1} << 34;  // 16 GiB when the system won't say
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
}

std::atomic<std::size_t> g_budget{0};  // 0: not set yet

}  // namespace

std::string format_bytes(std::size_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

BudgetError::BudgetError(const std::string& what, std::size_t bytes, std::size_t budget)
    : Error(what + " needs " +
            (bytes == std::numeric_limits<std::size_t>::max() ? std::string("more than 16 EiB")
                                                              : format_bytes(bytes)) +
            ", more than the memory budget of " + format_bytes(budget) +
            " (--max-memory; share/limits.md)"),
      bytes_(bytes) {}

std::size_t memory_budget() {
  std::size_t b = g_budget.load(std::memory_order_relaxed);
  if (b == 0) {
    b = physical_memory();
    g_budget.store(b, std::memory_order_relaxed);
  }
  return b;
}

void set_memory_budget(std::size_t bytes) { g_budget.store(bytes ? bytes : 1); }

void check_memory(std::size_t bytes, const std::string& what) {
  const std::size_t budget = memory_budget();
  if (bytes > budget) throw BudgetError(what, bytes, budget);
}

void check_memory(std::size_t count, std::size_t elem_size, const std::string& what) {
  if (elem_size != 0 && count > std::numeric_limits<std::size_t>::max() / elem_size)
    throw BudgetError(what, std::numeric_limits<std::size_t>::max(), memory_budget());
  check_memory(count * elem_size, what);
}

std::optional<std::size_t> parse_byte_size(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
                             text[i] == 'e' || text[i] == 'E' ||
                             ((text[i] == '+' || text[i] == '-') && i > 0 &&
                              (text[i - 1] == 'e' || text[i - 1] == 'E'))))
    ++i;
  if (i == 0) return std::nullopt;
  double v = 0;
  try {
    std::size_t used = 0;
    v = std::stod(text.substr(0, i), &used);
    if (used != i) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(i);
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double scale = 1;
  if (!unit.empty() && unit != "B") {
    const std::string letters = "KMGT";
    const auto pos = letters.find(unit[0]);
    if (pos == std::string::npos) return std::nullopt;
    const std::string rest = unit.substr(1);
    if (!rest.empty() && rest != "B" && rest != "IB") return std::nullopt;
    scale = std::pow(1024.0, static_cast<double>(pos + 1));
  }
  const double bytes = v * scale;
  if (!std::isfinite(bytes) || bytes < 1 || bytes >= 1.8e19) return std::nullopt;
  return static_cast<std::size_t>(bytes);
}

}  // namespace cnn
