// Enum <-> name tables keyed by name: each entry pairs a value with its name, so that the order
// of the enum and the order of the table are free (a table indexed by list position breaks
// silently when either is reordered). The order of the table is the order names are listed in.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cnn {

template <class E>
struct Named {
  E value;
  const char* name;
};

// The names, in table order.
template <class E, std::size_t N>
std::vector<std::string> names_of(const Named<E> (&table)[N]) {
  std::vector<std::string> names;
  for (const Named<E>& e : table) names.emplace_back(e.name);
  return names;
}

// The value named `name`, or nullopt.
template <class E, std::size_t N>
std::optional<E> value_named(const Named<E> (&table)[N], std::string_view name) {
  for (const Named<E>& e : table)
    if (name == e.name) return e.value;
  return std::nullopt;
}

// The name of `value`; std::logic_error when the table lacks it (a table missing an enum value
// is a bug, caught by each table's test).
template <class E, std::size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
  for (const Named<E>& e : table)
    if (e.value == value) return e.name;
  throw std::logic_error("an enum value without a name");
}

}  // namespace cnn
