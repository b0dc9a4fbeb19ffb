// Bindings for the loss kernel family (placeholder until the family lands).
#include "bindings/common.h"

namespace fg::bind {
void bind_loss(py::module_& m) { (void)m; }
}  // namespace fg::bind
