// Bindings for the norm kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_norm(py::module_& m) { (void)m; }
}  // namespace fg::bind
