// Bindings for the random kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_random(py::module_& m) { (void)m; }
}  // namespace fg::bind
