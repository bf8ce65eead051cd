// Which instruction set the kernels run on. The choice is made once, on first use, from the
// CPU's features (cpuid through xsimd, confirmed by the OS-aware __builtin_cpu_supports); the
// environment variable CNN_KERNELS=reference (or building with -DCNN_KERNELS_REFERENCE) forces the
// scalar oracle in kernels/ref everywhere, for tests and for hunting numerical differences.
#pragma once

#include <string>
#include <vector>

namespace cnn::kernels {

enum class Isa { Reference, Sse2, Avx2, Avx512 };

// "reference", "sse2", "avx2+fma", "avx512".
std::string isa_name(Isa isa);

// The SIMD variants this build has and this CPU can run, slowest first (Reference not included).
const std::vector<Isa>& supported_isas();

// Whether kernels of isa can run here: Reference, or one of supported_isas().
bool isa_runs(Isa isa);
// Throws cnn::Error ("WHAT: instruction set avx512 is not supported by this CPU") unless
// isa_runs(isa).
void require_isa(Isa isa, const char* what);

// What kernels::gemm and the other entry points use: Reference under CNN_KERNELS=reference,
// else the last of supported_isas(). Decided once per process.
Isa active_isa();

}  // namespace cnn::kernels
