// Bindings for the runtime kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_runtime(py::module_& m) { (void)m; }
}  // namespace fg::bind
