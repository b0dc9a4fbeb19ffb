// Which instruction-set build of the per-ISA kernel families (elementwise, norm, loss, optim)
// to run: detected once from the CPU. (The GEMM has its own choice, with an override:
// FUSEGRAD_GEMM_ISA, see cpu/matmul.h.)
#pragma once

namespace fg::cpu {

enum class Isa { kBaseline, kV3, kV4 };

// The best build this CPU runs: x86-64-v4 (AVX-512 F/BW/VL/DQ), x86-64-v3 (AVX2 + FMA), or
// the baseline. Detected on the first call (thread-safe), so usable from static initialisers.
Isa cpu_isa();

// "x86-64-v4", "x86-64-v3" or "baseline".
const char* isa_name(Isa isa);

// The kernel table of the build cpu_isa() chose: calls one of the three table makers.
template <class Table>
Table pick_isa(Table (*base)(), Table (*v3)(), Table (*v4)()) {
#if defined(FG_X86_DISPATCH)
  const Isa isa = cpu_isa();
  if (isa == Isa::kV4) return v4();
  if (isa == Isa::kV3) return v3();
#else
  (void)v3;
  (void)v4;
#endif
  return base();
}

}  // namespace fg::cpu
