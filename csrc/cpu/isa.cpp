// Run-time CPU detection shared by every per-ISA kernel family (see cpu/isa.h).
#include "cpu/isa.h"

namespace fg::cpu {
namespace {

Isa detect_isa() {
#if defined(FG_X86_DISPATCH)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::kV4;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kV3;
#endif
  return Isa::kBaseline;
}

}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  return isa == Isa::kV4 ? "x86-64-v4" : isa == Isa::kV3 ? "x86-64-v3" : "baseline";
}

}  // namespace fg::cpu
