// PYBIND11_MODULE(_C): the one extension module. Each kernel family binds itself in
// csrc/bindings/<family>.cpp; this file only calls them in order.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace fg::bind {
void bind_runtime(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_reduce(py::module_& m);
void bind_matmul(py::module_& m);
void bind_optim(py::module_& m);
void bind_norm(py::module_& m);
void bind_loss(py::module_& m);
void bind_random(py::module_& m);
void bind_graph(py::module_& m);
}  // namespace fg::bind

PYBIND11_MODULE(_C, m) {
  m.doc() =
      "fusegrad CPU kernels. Families: runtime (threads), elementwise (<op>_forward / "
      "<op>_backward from the X-lists in csrc/math), reduce, matmul (GEMM + fused Linear), "
      "optim (<algo>_step over a whole parameter group), norm (batch_norm_*), loss "
      "(softmax_cross_entropy_*), random (dropout masks), graph (graph_sweep: the native loop of "
      "autograd's reverse sweep).";
  fg::bind::bind_runtime(m);
  fg::bind::bind_elementwise(m);
  fg::bind::bind_reduce(m);
  fg::bind::bind_matmul(m);
  fg::bind::bind_optim(m);
  fg::bind::bind_norm(m);
  fg::bind::bind_loss(m);
  fg::bind::bind_random(m);
  fg::bind::bind_graph(m);
}
