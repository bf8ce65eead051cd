// Shape helpers of the tensor module.
#include "tensor/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "tensor/error.hpp"

namespace cnn {

namespace detail {
namespace {
// The heap header's first 8 bytes.
constexpr std::uint64_t kHeapBlock = 0x70616568726f736eULL;  // "nsorheap"

// The TensorBuffers' memory: [begin, end) ranges, few (one per model with a plan), looked up on
// every deallocation while there are any. A range's memory is freed when its TensorBuffer is
// gone and no tensor is placed in it any more, in whichever order that happens (a Model's
// members are destroyed and move-assigned in opposite orders).
struct PlacedRange {
  char* begin;
  char* end;
  std::size_t placed = 0;  // tensors placed in it and not yet deallocated
  bool owned = true;       // its TensorBuffer is alive
};
struct PlacedRanges {
  std::mutex mutex;
  std::vector<PlacedRange> ranges;
  std::atomic<std::size_t> count{0};  // ranges.size(), read without the lock
};
PlacedRanges& placed_ranges() {
  static PlacedRanges r;
  return r;
}

// The range holding p, with the lock held; nullptr when none does.
PlacedRange* find_range(PlacedRanges& r, const void* p) {
  const char* c = static_cast<const char*>(p);
  for (PlacedRange& range : r.ranges)
    if (c >= range.begin && c < range.end) return &range;
  return nullptr;
}

// Frees a range nobody uses any more; the lock is held.
void release_if_unused(PlacedRanges& r, PlacedRange* range) {
  if (range->owned || range->placed) return;
  std::free(range->begin);
  r.ranges.erase(r.ranges.begin() + (range - r.ranges.data()));
  r.count.store(r.ranges.size(), std::memory_order_release);
}

// Whether p is placed memory, which is then released (and its range freed when unused).
bool release_placed(void* p) {
  PlacedRanges& r = placed_ranges();
  if (r.count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(r.mutex);
  PlacedRange* range = find_range(r, p);
  if (!range) return false;
  if (range->placed) --range->placed;
  release_if_unused(r, range);
  return true;
}
}  // namespace

void* tensor_heap_allocate(std::size_t bytes) {
  // The header, then the values, rounded up to the alignment as aligned_alloc wants.
  if (bytes > std::numeric_limits<std::size_t>::max() - 2 * kTensorAlign) throw std::bad_alloc();
  const std::size_t total = (bytes + kTensorAlign + kTensorAlign - 1) / kTensorAlign * kTensorAlign;
  void* base = std::aligned_alloc(kTensorAlign, total);
  if (!base) throw std::bad_alloc();
  std::memcpy(base, &kHeapBlock, sizeof kHeapBlock);
  return static_cast<char*>(base) + kTensorAlign;
}

void tensor_deallocate(void* p) noexcept {
  if (!p || release_placed(p)) return;
  char* base = static_cast<char*>(p) - kTensorAlign;
  std::uint64_t tag;
  std::memcpy(&tag, base, sizeof tag);
  if (tag != kHeapBlock) std::abort();  // not a tensor's heap block: never freed blindly
  std::free(base);
}
}  // namespace detail

TensorBuffer::TensorBuffer(std::size_t bytes) : size_(bytes) {
  const std::size_t a = detail::kTensorAlign;
  if (bytes > std::numeric_limits<std::size_t>::max() - a) throw std::bad_alloc();
  const std::size_t total = (std::max<std::size_t>(bytes, 1) + a - 1) / a * a;
  data_ = static_cast<char*>(std::aligned_alloc(a, total));
  if (!data_) throw std::bad_alloc();
  auto& r = detail::placed_ranges();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.ranges.push_back({data_, data_ + total});
  r.count.store(r.ranges.size(), std::memory_order_release);
}

TensorBuffer::~TensorBuffer() {
  auto& r = detail::placed_ranges();
  std::lock_guard<std::mutex> lock(r.mutex);
  detail::PlacedRange* range = detail::find_range(r, data_);
  range->owned = false;
  detail::release_if_unused(r, range);
}

std::size_t numel(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::optional<std::size_t> checked_numel(const Shape& s, std::size_t limit) {
  std::size_t n = 1;
  for (auto d : s) {
    if (d != 0 && n > limit / d) return std::nullopt;  // n * d > limit, without overflowing
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& s, bool with_batch) {
  std::string out = "(";
  bool first = true;
  if (with_batch) {
    out += "None";
    first = false;
  }
  for (auto d : s) {
    if (!first) out += ", ";
    out += std::to_string(d);
    first = false;
  }
  if (s.size() + (with_batch ? 1 : 0) == 1) out += ",";
  return out + ")";
}

Shape batch_shape(std::size_t n, const Shape& sample) {
  Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

Shape shape_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end()); }

void ensure_shape(Tensor& t, const Shape& shape) {
  if (t.dimension() == shape.size() && std::equal(shape.begin(), shape.end(), t.shape().begin()))
    return;
  t.resize(shape);
}

void place_tensor(Tensor& t, float* place, const Shape& shape) {
  const std::size_t n = numel(shape);
  // A storage whose allocator hands out place, moved into t (whose old memory is freed), then
  // shaped: its size already matches, so nothing is allocated.
  {
    auto& r = detail::placed_ranges();
    std::lock_guard<std::mutex> lock(r.mutex);
    detail::PlacedRange* range = detail::find_range(r, place);
    if (!range || reinterpret_cast<char*>(place + n) > range->end)
      throw Error("place_tensor: the place is not inside a TensorBuffer");
    ++range->placed;
  }
  t.storage() = Tensor::storage_type(n, detail::TensorAllocator<float>(place, n));
  t.resize(shape);
}

}  // namespace cnn
