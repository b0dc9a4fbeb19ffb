// Bindings for the matmul kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_matmul(py::module_& m) { (void)m; }
}  // namespace fg::bind
