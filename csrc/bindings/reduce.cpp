// Bindings for the reduce kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_reduce(py::module_& m) { (void)m; }
}  // namespace fg::bind
