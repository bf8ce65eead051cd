// The tensor type of libcnn: float32, row-major (NHWC for images), 64-byte aligned, owned by
// xtensor (or placed in a buffer a Model plans: place_tensor).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>
#include <xsimd/xsimd.hpp>
#include <xtensor/xarray.hpp>

namespace cnn {

namespace detail {
// Tensor memory comes in two kinds: blocks of its own from the heap, and memory placed in a
// TensorBuffer (Model's planned inference outputs: place_tensor). Deallocation tells them apart
// by address, because xtensor moves storage between tensors without their allocators (a
// moved-into tensor frees what another's allocator gave): a placed block is never freed, a heap
// block (which carries a 64-byte header that says so) always is.
constexpr std::size_t kTensorAlign = 64;
void* tensor_heap_allocate(std::size_t bytes);
void tensor_deallocate(void* p) noexcept;

template <class T>
class TensorAllocator {
 public:
  using value_type = T;
  TensorAllocator() noexcept = default;
  // allocate() returns place (inside a TensorBuffer) for requests of up to capacity elements.
  TensorAllocator(T* place, std::size_t capacity) noexcept : place_(place), capacity_(capacity) {}
  template <class U>
  TensorAllocator(const TensorAllocator<U>&) noexcept {}  // rebinding never carries a place
  T* allocate(std::size_t n) {
    if (place_ && n <= capacity_) return place_;
    return static_cast<T*>(tensor_heap_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { tensor_deallocate(p); }
  // A copy of a tensor owns its memory.
  TensorAllocator select_on_container_copy_construction() const { return TensorAllocator(); }
  // Any allocator can free any block (tensor_deallocate tells placed from heap memory).
  template <class U>
  bool operator==(const TensorAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const TensorAllocator<U>&) const noexcept {
    return false;
  }
  template <class U>
  struct rebind {
    using other = TensorAllocator<U>;
  };

 private:
  T* place_ = nullptr;
  std::size_t capacity_ = 0;
};
}  // namespace detail

// A batch tensor: [n, h, w, c] for images, [n, features] after Flatten/Dense.
using Tensor = xt::xarray<float, xt::layout_type::row_major, detail::TensorAllocator<float>>;

// A shape. Layer shapes (Keras's "output shape" without the batch) and full tensor shapes both
// use it; functions say which they mean.
using Shape = std::vector<std::size_t>;

// Number of elements of a shape (1 for the empty shape).
std::size_t numel(const Shape& s);

// Budgets for sizes read from files (share/limits.md): values in one sample's tensor (2^31:
// 8 GiB of float32), and parameters of a model (2^32: 16 GiB).
constexpr std::size_t kMaxSampleValues = std::size_t{1} << 31;
constexpr std::size_t kMaxParams = std::size_t{1} << 32;

// The one checked product of sizes: numel(s) when no partial product overflows and the result
// is at most limit, else nullopt. Every size taken from a file goes through it before anything
// is allocated.
std::optional<std::size_t> checked_numel(const Shape& s, std::size_t limit);

// "(26, 26, 32)"; with_batch gives Keras's "(None, 26, 26, 32)".
std::string shape_str(const Shape& s, bool with_batch = false);

// A full tensor shape: {n} followed by the per-sample shape.
Shape batch_shape(std::size_t n, const Shape& sample);

// The tensor's shape as a Shape.
Shape shape_of(const Tensor& t);

// Resizes t to shape (no reallocation when the size is unchanged); contents are unspecified.
void ensure_shape(Tensor& t, const Shape& shape);

// Memory that tensors are placed in (place_tensor): one 64-byte aligned block, known to the
// tensor allocator so that a placed tensor's deallocation leaves it alone. The block is freed
// when both the TensorBuffer and every tensor placed in it are gone, in either order. Pages
// never written cost address space, not resident memory.
class TensorBuffer {
 public:
  explicit TensorBuffer(std::size_t bytes);
  ~TensorBuffer();
  TensorBuffer(const TensorBuffer&) = delete;
  TensorBuffer& operator=(const TensorBuffer&) = delete;
  char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  char* data_;
  std::size_t size_;
};

// Makes t a tensor of shape whose numel(shape) values live at place, inside a TensorBuffer,
// which t (or a tensor t is moved into) then uses. Contents are unspecified. A later resize to
// another size gives t heap memory of its own again. Throws Error when place..place + numel is
// not inside a TensorBuffer.
void place_tensor(Tensor& t, float* place, const Shape& shape);

}  // namespace cnn
