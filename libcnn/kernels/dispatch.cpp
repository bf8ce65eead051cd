// Run-time choice of the kernels' instruction set (see dispatch.hpp). Only the files under
// kernels/simd/ are compiled with ISA flags; this one is baseline x86-64 so it runs anywhere.
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <xsimd/xsimd.hpp>

#include "tensor/error.hpp"

namespace cnn::kernels {

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::Reference:
      return "reference";
    case Isa::Sse2:
      return "sse2";
    case Isa::Avx2:
      return "avx2+fma";
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

namespace {

std::vector<Isa> detect() {
  std::vector<Isa> isas;
#if defined(__x86_64__)
  // xsimd 8.1 reads cpuid but not XCR0; gcc's __builtin_cpu_supports also checks that the OS
  // saves the wide registers, so a CPU with AVX-512 under an OS without it is not picked.
  const auto arch = xsimd::available_architectures();
  __builtin_cpu_init();
  if (arch.sse2) isas.push_back(Isa::Sse2);
  if (arch.fma3_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    isas.push_back(Isa::Avx2);
  if (arch.avx512f && arch.avx512dq && arch.avx512bw && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    isas.push_back(Isa::Avx512);
#endif
  return isas;
}

}  // namespace

const std::vector<Isa>& supported_isas() {
  static const std::vector<Isa> isas = detect();
  return isas;
}

bool isa_runs(Isa isa) {
  const auto& isas = supported_isas();
  return isa == Isa::Reference || std::find(isas.begin(), isas.end(), isa) != isas.end();
}

void require_isa(Isa isa, const char* what) {
  if (!isa_runs(isa))
    throw Error(std::string(what) + ": instruction set " + isa_name(isa) +
                " is not supported by this CPU");
}

Isa active_isa() {
  static const Isa isa = [] {
#ifdef CNN_KERNELS_REFERENCE
    return Isa::Reference;
#else
    const char* env = std::getenv("CNN_KERNELS");
    if (env && std::strcmp(env, "reference") == 0) return Isa::Reference;
    const auto& isas = supported_isas();
    return isas.empty() ? Isa::Reference : isas.back();
#endif
  }();
  return isa;
}

}  // namespace cnn::kernels
