// Matrix multiply on row-major float buffers: C = alpha * op(A) * op(B) + beta * C, where
// op(X) is X or its transpose. op(A) is [m, k], op(B) is [k, n], C is [m, n]; lda/ldb/ldc are
// row strides in elements. beta = 0 ignores C's old contents (even NaN); beta = 1 accumulates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "kernels/dispatch.hpp"
#include "tensor/aligned.hpp"

namespace cnn::kernels {

enum class Trans { No, Yes };

// The precision of the products inside gemm() and PackedB, process-wide (like PyTorch's
// torch.set_float32_matmul_precision). Fp32: float operands, fused multiply-adds. Bf16: op(A)
// and op(B) are rounded to bfloat16 (round to nearest even, subnormals to zero: bf16_bits), their
// products (exact in float) summed in float; inputs and outputs stay float. The AVX-512 variant
// runs Bf16 on the CPU's AVX512_BF16 instructions (vdpbf16ps, two products per lane) when it has
// them (native_bf16); everywhere else, and for products too small to pack, the operands are
// rounded into copies and the float path multiplies those (the same values, summed in another
// order). Error against the float product of the unrounded operands, per element: at most
// (2^-7 + 2^-14 + k 2^-23) sum over p of |A(i, p)| |B(p, j)|
// (tests/unit/kernels/test_gemm_bf16.cpp).
enum class Precision { Fp32, Bf16 };
Precision matmul_precision();
void set_matmul_precision(Precision precision);
// Sets the precision for its lifetime, then puts back the one before it.
class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(Precision precision) : old_(matmul_precision()) {
    set_matmul_precision(precision);
  }
  ~MatmulPrecisionScope() { set_matmul_precision(old_); }
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;

 private:
  Precision old_;
};
// "fp32", "bf16".
const char* precision_name(Precision precision);

// x rounded to bfloat16, as the upper half of a float's bits: to nearest, ties to even;
// subnormals become zeros of their sign, a NaN stays a NaN (quiet). Bitwise what AVX512_BF16's
// vcvtne2ps2bf16 gives.
std::uint16_t bf16_bits(float x);
// The float with those upper bits (exact).
float bf16_value(std::uint16_t bits);
inline float bf16_round(float x) { return bf16_value(bf16_bits(x)); }

// Whether isa's GEMM runs Bf16 on the CPU's bfloat16 instructions (else it rounds copies).
bool native_bf16(Isa isa);

// The most terms of k that every SIMD gemm sums in one block, each sum from 0 in order by fused
// multiply-adds (the block is KC: 256 with SSE2, 384 with AVX2 and AVX-512); a longer k is summed
// in equal blocks, each block's sums added to C.
inline constexpr std::size_t kGemmOneBlock = 256;

// The entry point layers call: the variant of active_isa() (dispatch.hpp). Packed, cache-blocked
// and threaded over output blocks (kernels/simd/gemm_impl.hpp); for a given ISA the result is
// bitwise the same for any num_threads().
void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

// One ISA's variant, for tests and benchmarks. Throws cnn::Error when isa is not in
// supported_isas() (Isa::Reference is always accepted: ref::gemm).
void gemm_for(Isa isa, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
              const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
              float* c, std::size_t ldc);

// A B matrix packed once into the GEMM's panels, for many products with the same B (Winograd
// multiplies each transformed kernel with every block of input tiles). multiply() runs the
// packed path of gemm() with the same ISA: bitwise gemm()'s result wherever gemm() packs too
// (m >= 3 and m * n * k > 32^3; smaller products it computes unpacked, in another order). The
// packings take the matmul_precision() of their call, and multiply() uses that one.
class PackedB {
 public:
  explicit PackedB(Isa isa = active_isa());  // throws cnn::Error when the CPU lacks isa
  // Floats a packed [k, n] takes with isa's panels (at most this in Bf16).
  static std::size_t floats(Isa isa, std::size_t k, std::size_t n);
  // Where the packings below write: storage that the caller owns and keeps alive while this is
  // used (at least floats(isa, k, n), 64-byte aligned), or (nullptr) memory of its own.
  void use_storage(float* storage);
  // Packs op(B) [k, n] (B's rows ldb apart); the old contents are dropped.
  void pack(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb);
  // Packs outs matrices [k, n] at once, each a weighted sum of nine: dst[o] = sum over t < 9 of
  // coef[9 o + t] * B_t, where B_t = b + t * tap_stride has rows ldb apart, the first term a
  // product and the others fused multiply-adds in order (bitwise what packing the sum made that
  // way gives). Winograd's kernel transform: the 36 tile positions from the nine taps of a 3x3
  // kernel, read once. Every dst has the same ISA. Threads over the rows.
  static void pack_combined(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                            std::size_t tap_stride, const float* coef, PackedB* const* dst,
                            std::size_t outs);
  // C[m, n] = alpha * op(A)[m, k] * B + beta * C.
  void multiply(Trans ta, std::size_t m, float alpha, const float* a, std::size_t lda, float beta,
                float* c, std::size_t ldc) const;
  std::size_t k() const { return k_; }
  std::size_t n() const { return n_; }
  Precision precision() const { return precision_; }

 private:
  Isa isa_;
  Precision precision_ = Precision::Fp32;
  std::size_t k_ = 0, n_ = 0;
  AlignedVector<float> data_;
  float* storage_ = nullptr;  // use_storage
  // The packed values' memory for [k, n]: storage_, or data_ sized for them.
  float* prepare(std::size_t k, std::size_t n);
};

namespace ref {
// The scalar oracle: plain loops, summing over k in order, in double per output element.
void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);
}  // namespace ref

}  // namespace cnn::kernels
