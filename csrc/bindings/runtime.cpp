// Bindings for the runtime family: the thread count every CPU kernel uses (cpu/parallel.h).
//   _C.set_num_threads(n)   n >= 1; kernels use at most n threads (ignored without OpenMP)
//   _C.get_num_threads()    current setting (OMP_NUM_THREADS / all cores by default; 1 serial)
//   _C.has_openmp()         whether this build was compiled with OpenMP
//   _C.PARALLEL_GRAIN       elements per thread below which kernels stay single-threaded
#include <string>

#include "bindings/common.h"
#include "cpu/parallel.h"

namespace fg::bind {

void bind_runtime(py::module_& m) {
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1)
          throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
        fg::cpu::set_num_threads(n);
      },
      py::arg("n"), "Use at most n threads in fusegrad's CPU kernels (n >= 1).");
  m.def("get_num_threads", &fg::cpu::num_threads,
        "Threads fusegrad's CPU kernels may use (1 in a build without OpenMP).");
  m.def("has_openmp", &fg::cpu::has_openmp, "True if the kernels were built with OpenMP.");
  m.attr("PARALLEL_GRAIN") = fg::cpu::kParallelGrain;
}

}  // namespace fg::bind
