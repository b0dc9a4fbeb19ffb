// Bindings for the optim kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_optim(py::module_& m) { (void)m; }
}  // namespace fg::bind
