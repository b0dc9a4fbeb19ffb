// Loss and softmax kernels (CPU): fused softmax cross-entropy (one forward, one backward),
// softmax / log-softmax along the last axis, NLL, BCE-with-logits, MSE. Per-element math:
// csrc/math/loss.h. The row kernels live in cpu/loss_impl.h, compiled per instruction set
// (loss.cpp baseline, loss_v3.cpp, loss_v4.cpp) and picked once at run time.
//
// Common contract: 2-D row kernels take C-contiguous (n, c) arrays; labels are int64 of size n
// and already validated (see find_bad_label) except that ignore_index rows are skipped; class
// weights (size c) may be null (all ones). Upstream gradients gy are read as gy[i · gy_stride]
// (gy_stride 0: one scalar for a reduced loss) and multiplied by `scale` (1/Σw for "mean").
// Outputs never alias inputs unless stated. Empty inputs do nothing (sums are 0).
#pragma once

#include <stdint.h>

namespace fg::cpu {

// Index of the first label that is neither in [0, c) nor ignore_index, or -1.
int64_t find_bad_label(const int64_t* labels, int64_t n, int64_t c, int64_t ignore_index);

// Per row: loss[i] (weighted, smoothed; 0 when ignored) and lse[i] = log Σ_c exp(z_ic).
// *loss_sum = Σ loss[i] and *weight_sum = Σ_{not ignored} w[y_i] (the "mean" denominator),
// both summed in double in row order. See Note [cross-entropy with label smoothing and weights].
template <class T>
void softmax_cross_entropy_forward(const T* logits, const int64_t* labels, const T* weight,
                                   T* loss, T* lse, int64_t n, int64_t c, int64_t ignore_index,
                                   double smoothing, double* loss_sum, double* weight_sum);

// gx[i, :] = g_i · (a_i·softmax - (ε/C)·w - onehot·(1-ε)·w_y), g_i = gy[i·gy_stride]·scale;
// rows with the ignore label get 0. lse is the forward's.
template <class T>
void softmax_cross_entropy_backward(const T* logits, const int64_t* labels, const T* weight,
                                    const T* lse, const T* gy, T* gx, int64_t n, int64_t c,
                                    int64_t gy_stride, int64_t ignore_index, double smoothing,
                                    double scale);

// Row-wise softmax / log-softmax of (n, c) (y may alias x), and their backward
// (gx = y·(gy - Σgy·y); gx = gy - exp(y)·Σgy). gx may alias gy.
template <class T>
void softmax_forward(const T* x, T* y, int64_t n, int64_t c);
template <class T>
void log_softmax_forward(const T* x, T* y, int64_t n, int64_t c);
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, int64_t n, int64_t c);
template <class T>
void log_softmax_backward(const T* y, const T* gy, T* gx, int64_t n, int64_t c);

// NLL on log-probabilities x (n, c): loss[i] = -w_y·x[i, y] (0 when ignored), sums as above.
template <class T>
void nll_loss_forward(const T* x, const int64_t* labels, const T* weight, T* loss, int64_t n,
                      int64_t c, int64_t ignore_index, double* loss_sum, double* weight_sum);
// gx (n, c) = 0 except gx[i, y] = -w_y·gy[i·gy_stride]·scale.
template <class T>
void nll_loss_backward(const int64_t* labels, const T* weight, const T* gy, T* gx, int64_t n,
                       int64_t c, int64_t gy_stride, int64_t ignore_index, double scale);

// Elementwise over n values (contiguous): loss[i] and *loss_sum = Σ loss (double, fixed order).
// pos_weight may be null (1). Backward: gx[i] = ∂loss/∂z · gy[i·gy_stride] · scale.
template <class T>
void bce_with_logits_forward(const T* z, const T* t, const T* pos_weight, T* loss, int64_t n,
                             double* loss_sum);
template <class T>
void bce_with_logits_backward(const T* z, const T* t, const T* pos_weight, const T* gy, T* gx,
                              int64_t n, int64_t gy_stride, double scale);

// Squared error (x - t)² elementwise with the loss sum; backward writes gx = 2(x - t)·g·scale
// and, when gt is non-null, gt = -gx.
template <class T>
void mse_loss_forward(const T* x, const T* t, T* loss, int64_t n, double* loss_sum);
template <class T>
void mse_loss_backward(const T* x, const T* t, const T* gy, T* gx, T* gt, int64_t n,
                       int64_t gy_stride, double scale);

// ---- per-ISA tables (internal; see cpu/norm.h for why scratch comes from the caller) ------
template <class T>
struct LossKernels {
  void (*ce_forward)(const T* logits, const int64_t* labels, const T* weight, T* loss, T* lse,
                     T* row_weight, int64_t n, int64_t c, int64_t ignore_index, T smoothing,
                     T w_total);
  void (*ce_backward)(const T* logits, const int64_t* labels, const T* weight, const T* lse,
                      const T* gy, T* gx, int64_t n, int64_t c, int64_t gy_stride,
                      int64_t ignore_index, T smoothing, T w_total, T scale);
  void (*softmax_forward)(const T* x, T* y, int64_t n, int64_t c);
  void (*log_softmax_forward)(const T* x, T* y, int64_t n, int64_t c);
  void (*softmax_backward)(const T* y, const T* gy, T* gx, int64_t n, int64_t c);
  void (*log_softmax_backward)(const T* y, const T* gy, T* gx, int64_t n, int64_t c);
};

LossKernels<float> loss_kernels_baseline_f32();
LossKernels<double> loss_kernels_baseline_f64();
LossKernels<float> loss_kernels_v3_f32();
LossKernels<double> loss_kernels_v3_f64();
LossKernels<float> loss_kernels_v4_f32();
LossKernels<double> loss_kernels_v4_f64();

}  // namespace fg::cpu
