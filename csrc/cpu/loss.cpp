// Loss kernels: the baseline build of the row kernels (cpu/loss_impl.h), the run-time choice of
// instruction set, the public entry points, and the simple elementwise losses (NLL, BCE with
// logits, MSE), whose cost is memory traffic and libm calls rather than vector width.
#define FG_LOSS_ISA isa_baseline
#define FG_LOSS_TABLE_F32 loss_kernels_baseline_f32
#define FG_LOSS_TABLE_F64 loss_kernels_baseline_f64
#include "cpu/loss_impl.h"
#include "cpu/isa.h"

#include <vector>

namespace fg::cpu {
namespace {

namespace fm = fg::math;


template <class T>
const LossKernels<T>& kernels();
template <>
const LossKernels<float>& kernels<float>() {
  static const LossKernels<float> k =
      pick_isa(loss_kernels_baseline_f32, loss_kernels_v3_f32, loss_kernels_v4_f32);
  return k;
}
template <>
const LossKernels<double>& kernels<double>() {
  static const LossKernels<double> k =
      pick_isa(loss_kernels_baseline_f64, loss_kernels_v3_f64, loss_kernels_v4_f64);
  return k;
}

// Σ a[i] in double over fixed chunks merged in order: the same result for any thread count.
constexpr int64_t kSumChunk = 4096;
template <class T>
double sum_fixed(const T* a, int64_t n) {
  const int64_t nchunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> part(static_cast<size_t>(nchunks));
  parallel_chunks(nchunks, kSumChunk, [&](int64_t q) {
    const int64_t hi = std::min(n, (q + 1) * kSumChunk);
    double s = 0;
    for (int64_t i = q * kSumChunk; i < hi; ++i) s += static_cast<double>(a[i]);
    part[static_cast<size_t>(q)] = s;
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

template <class T>
double weight_total(const T* weight, int64_t c) {
  if (!weight) return static_cast<double>(c);
  double s = 0;
  for (int64_t k = 0; k < c; ++k) s += static_cast<double>(weight[k]);
  return s;
}

}  // namespace

int64_t find_bad_label(const int64_t* labels, int64_t n, int64_t c, int64_t ignore_index) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = labels[i];
    if ((y < 0 || y >= c) && y != ignore_index) return i;
  }
  return -1;
}

template <class T>
void softmax_cross_entropy_forward(const T* logits, const int64_t* labels, const T* weight,
                                   T* loss, T* lse, int64_t n, int64_t c, int64_t ignore_index,
                                   double smoothing, double* loss_sum, double* weight_sum) {
  std::vector<T> row_weight(static_cast<size_t>(n));
  kernels<T>().ce_forward(logits, labels, weight, loss, lse, row_weight.data(), n, c,
                          ignore_index, static_cast<T>(smoothing),
                          static_cast<T>(weight_total(weight, c)));
  *loss_sum = sum_fixed(loss, n);
  *weight_sum = sum_fixed(row_weight.data(), n);
}

template <class T>
void softmax_cross_entropy_backward(const T* logits, const int64_t* labels, const T* weight,
                                    const T* lse, const T* gy, T* gx, int64_t n, int64_t c,
                                    int64_t gy_stride, int64_t ignore_index, double smoothing,
                                    double scale) {
  kernels<T>().ce_backward(logits, labels, weight, lse, gy, gx, n, c, gy_stride, ignore_index,
                           static_cast<T>(smoothing), static_cast<T>(weight_total(weight, c)),
                           static_cast<T>(scale));
}

template <class T>
void softmax_forward(const T* x, T* y, int64_t n, int64_t c) {
  kernels<T>().softmax_forward(x, y, n, c);
}
template <class T>
void log_softmax_forward(const T* x, T* y, int64_t n, int64_t c) {
  kernels<T>().log_softmax_forward(x, y, n, c);
}
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t n, int64_t c) {
  kernels<T>().softmax_backward(y, gy, gx, n, c);
}
template <class T>
void log_softmax_backward(const T* y, const T* gy, T* gx, int64_t n, int64_t c) {
  kernels<T>().log_softmax_backward(y, gy, gx, n, c);
}

template <class T>
void nll_loss_forward(const T* x, const int64_t* labels, const T* weight, T* loss, int64_t n,
                      int64_t c, int64_t ignore_index, double* loss_sum, double* weight_sum) {
  double ws = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = labels[i];
    if (y == ignore_index) {
      loss[i] = T(0);
      continue;
    }
    const T w_y = weight ? weight[y] : T(1);
    loss[i] = fm::nll_row_loss(x[i * c + y], w_y);
    ws += static_cast<double>(w_y);
  }
  *loss_sum = sum_fixed(loss, n);
  *weight_sum = ws;
}

template <class T>
void nll_loss_backward(const int64_t* labels, const T* weight, const T* gy, T* gx, int64_t n,
                       int64_t c, int64_t gy_stride, int64_t ignore_index, double scale) {
  parallel_for(n, c, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T* row = gx + i * c;
      for (int64_t k = 0; k < c; ++k) row[k] = T(0);
      const int64_t y = labels[i];
      if (y == ignore_index) continue;
      const T w_y = weight ? weight[y] : T(1);
      // ∂(-w_y·x_y)/∂x_y = -w_y
      row[y] = -w_y * gy[i * gy_stride] * static_cast<T>(scale);
    }
  });
}

template <class T>
void bce_with_logits_forward(const T* z, const T* t, const T* pos_weight, T* loss, int64_t n,
                             double* loss_sum) {
  parallel_for(n, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      loss[i] = fm::bce_with_logits_forward(z[i], t[i], pos_weight ? pos_weight[i] : T(1));
  });
  *loss_sum = sum_fixed(loss, n);
}

template <class T>
void bce_with_logits_backward(const T* z, const T* t, const T* pos_weight, const T* gy, T* gx,
                              int64_t n, int64_t gy_stride, double scale) {
  const T s = static_cast<T>(scale);
  parallel_for(n, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      gx[i] = fm::bce_with_logits_backward(z[i], t[i], pos_weight ? pos_weight[i] : T(1),
                                           gy[i * gy_stride] * s);
  });
}

template <class T>
void mse_loss_forward(const T* x, const T* t, T* loss, int64_t n, double* loss_sum) {
  parallel_for(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) loss[i] = fm::mse_forward(x[i], t[i]);
  });
  *loss_sum = sum_fixed(loss, n);
}

template <class T>
void mse_loss_backward(const T* x, const T* t, const T* gy, T* gx, T* gt, int64_t n,
                       int64_t gy_stride, double scale) {
  const T s = static_cast<T>(scale);
  parallel_for(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T g = fm::mse_backward(x[i], t[i], gy[i * gy_stride] * s);
      gx[i] = g;
      if (gt) gt[i] = -g;
    }
  });
}

#define FG_INSTANTIATE_LOSS(T)                                                                  \
  template void softmax_cross_entropy_forward<T>(const T*, const int64_t*, const T*, T*, T*,   \
                                                 int64_t, int64_t, int64_t, double, double*,   \
                                                 double*);                                     \
  template void softmax_cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, \
                                                  const T*, T*, int64_t, int64_t, int64_t,     \
                                                  int64_t, double, double);                    \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t);                            \
  template void log_softmax_forward<T>(const T*, T*, int64_t, int64_t);                        \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);                 \
  template void log_softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);             \
  template void nll_loss_forward<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t,  \
                                    int64_t, double*, double*);                                \
  template void nll_loss_backward<T>(const int64_t*, const T*, const T*, T*, int64_t, int64_t, \
                                     int64_t, int64_t, double);                                \
  template void bce_with_logits_forward<T>(const T*, const T*, const T*, T*, int64_t, double*); \
  template void bce_with_logits_backward<T>(const T*, const T*, const T*, const T*, T*,        \
                                            int64_t, int64_t, double);                         \
  template void mse_loss_forward<T>(const T*, const T*, T*, int64_t, double*);                 \
  template void mse_loss_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,   \
                                     double);
FG_INSTANTIATE_LOSS(float)
FG_INSTANTIATE_LOSS(double)
#undef FG_INSTANTIATE_LOSS

}  // namespace fg::cpu
