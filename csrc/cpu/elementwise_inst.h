// Explicit instantiations of the elementwise kernels for every op on the X-lists, float and
// double. Included INSIDE a namespace: fg::cpu::<isa> by cpu/elementwise_impl.h (the per-ISA
// loops) and fg::cpu by cpu/elementwise.cpp (the dispatching entry points). No include guard:
// it is meant to be expanded once per namespace.
#define FG_INST_UNARY(name, F)                                                                \
  template void unary_forward<math::F, float>(const float*, float*, int, const int64_t*,      \
                                              const int64_t*, float, float);                  \
  template void unary_forward<math::F, double>(const double*, double*, int, const int64_t*,   \
                                               const int64_t*, double, double);               \
  template void unary_backward<math::F, float>(const float*, const float*, const float*,      \
                                               float*, int, const int64_t*, const int64_t*,   \
                                               const int64_t*, const int64_t*, float, float); \
  template void unary_backward<math::F, double>(                                              \
      const double*, const double*, const double*, double*, int, const int64_t*,              \
      const int64_t*, const int64_t*, const int64_t*, double, double);
FG_UNARY_OPS(FG_INST_UNARY)
#undef FG_INST_UNARY

#define FG_INST_BINARY(name, F)                                                               \
  template void binary_forward<math::F, float>(const float*, const float*, float*, int,       \
                                               const int64_t*, const int64_t*,                \
                                               const int64_t*);                               \
  template void binary_forward<math::F, double>(const double*, const double*, double*, int,   \
                                                const int64_t*, const int64_t*,               \
                                                const int64_t*);                              \
  template void binary_backward<math::F, float>(                                              \
      const float*, const float*, const float*, const float*, float*, float*, int,            \
      const int64_t*, const int64_t*, const int64_t*, const int64_t*, const int64_t*);        \
  template void binary_backward<math::F, double>(                                             \
      const double*, const double*, const double*, const double*, double*, double*, int,      \
      const int64_t*, const int64_t*, const int64_t*, const int64_t*, const int64_t*);
FG_BINARY_OPS(FG_INST_BINARY)
#undef FG_INST_BINARY

#define FG_INST_COMPARE(name, F)                                                            \
  template void compare<math::F, float>(const float*, const float*, bool*, int,             \
                                        const int64_t*, const int64_t*, const int64_t*);    \
  template void compare<math::F, double>(const double*, const double*, bool*, int,          \
                                         const int64_t*, const int64_t*, const int64_t*);
FG_COMPARE_OPS(FG_INST_COMPARE)
#undef FG_INST_COMPARE

