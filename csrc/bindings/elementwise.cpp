// Bindings for the elementwise kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_elementwise(py::module_& m) { (void)m; }
}  // namespace fg::bind
