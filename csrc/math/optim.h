// Per-element optimizer updates: one FG_HD function per algorithm, shared by the CPU loops
// (csrc/cpu/optim.cpp) and the CUDA kernels (csrc/cuda/optim.cu).
//
// Contract for every <algo>_update: it updates ONE element of a parameter and its optimizer
// state in place, reading each value once and writing it once. `g` is the gradient element
// (read only). The hyper-parameter struct is built on the host once per step and per tensor
// (make_<algo>_params below), in double, then rounded to T: per-step scalars such as Adam's
// bias corrections are precomputed there, so the element function does no pow/exp.
//
// The formulas and their operation order follow PyTorch's `_single_tensor_<algo>`
// (torch/optim/<algo>.py, torch 2.x) term by term, so that float64 results agree with
// torch.optim to rounding and float32 results to a few ulp:
//   lerp_(x, w)           ->  a + w * (x - a)            (w < 0.5 branch of torch's lerp)
//   mul_(b).addcmul_(x,y,value=c) -> a * b + c * x * y
//   addcdiv_(x, y, value=c)       -> a + c * (x / y)
// Flags (amsgrad, nesterov, ...) are plain bools in the struct: the CPU loops specialise on
// them (see csrc/cpu/optim_impl.h), a GPU warp takes the same branch for every element.
#pragma once

#include "math/hd.h"

namespace fg {
namespace math {

// ---- SGD ---------------------------------------------------------------------------------
// g <- -g (maximize); g <- g + wd * p; with momentum mu and dampening d:
//   buf <- g on the first step, else buf <- mu * buf + (1 - d) * g
//   g   <- g + mu * buf (nesterov) or buf
// p <- p - lr * g.
template <class T>
struct SgdParams {
  T lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, maximize;
};

template <class T>
FG_HD SgdParams<T> make_sgd_params(double lr, double momentum, double dampening,
                                   double weight_decay, bool nesterov, bool maximize) {
  return SgdParams<T>{T(lr), T(momentum), T(1.0 - dampening), T(weight_decay), nesterov,
                      maximize};
}

// `first` is true on the step that creates the momentum buffer (PyTorch: buf is None).
template <class T>
FG_HD void sgd_update(T& p, T g, T& buf, bool first, const SgdParams<T>& hp) {
  if (hp.maximize) g = -g;
  if (hp.weight_decay != T(0)) g = g + hp.weight_decay * p;
  if (hp.momentum != T(0)) {
    T b = first ? g : buf * hp.momentum + hp.one_minus_dampening * g;
    buf = b;
    g = hp.nesterov ? g + hp.momentum * b : b;
  }
  p = p + (-hp.lr) * g;
}

// ---- Adam / AdamW --------------------------------------------------------------------------
// t = step (1-based, already incremented). Weight decay: L2 (g <- g + wd * p) or decoupled
// (AdamW: p <- p * (1 - lr * wd) before the step).
//   m <- m + (1 - b1) (g - m)          v <- b2 v + (1 - b2) g^2
//   vmax <- max(vmax, v), used instead of v when amsgrad
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// eps is added to the bias-corrected sqrt(v-hat), as in PyTorch (not inside the sqrt).
// NOTE: sqrt(v) is multiplied by 1 / sqrt(1 - b2^t) (precomputed) instead of divided by
// sqrt(1 - b2^t) as PyTorch writes it: sqrt and division share one execution unit, and with
// two divisions per element the loop was bound by it (3.3 cycles/element in cache, below the
// memory speed) rather than by memory. The results differ from PyTorch's by at most 1 ulp.
template <class T>
struct AdamParams {
  T one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor;
  T neg_step_size;  // -lr / (1 - beta1^t)
  T inv_bc2_sqrt;   // 1 / sqrt(1 - beta2^t)
  bool amsgrad, decoupled, maximize;
};

template <class T>
FG_HD AdamParams<T> make_adam_params(double step, double lr, double beta1, double beta2,
                                     double eps, double weight_decay, bool amsgrad,
                                     bool decoupled, bool maximize) {
  const double bc1 = 1.0 - hd_pow(beta1, step);
  const double bc2 = 1.0 - hd_pow(beta2, step);
  return AdamParams<T>{T(1.0 - beta1),  T(beta2),         T(1.0 - beta2),
                       T(eps),          T(weight_decay),  T(1.0 - lr * weight_decay),
                       T(-(lr / bc1)),  T(1.0 / hd_sqrt(bc2)), amsgrad,
                       decoupled,       maximize};
}

template <class T>
FG_HD void adam_update(T& p, T g, T& m, T& v, T& vmax, const AdamParams<T>& hp) {
  if (hp.maximize) g = -g;
  T pp = p;
  if (hp.weight_decay != T(0)) {
    if (hp.decoupled)
      pp = pp * hp.decay_factor;
    else
      g = g + hp.weight_decay * pp;
  }
  const T mm = m + hp.one_minus_beta1 * (g - m);
  const T vv = v * hp.beta2 + hp.one_minus_beta2 * g * g;
  m = mm;
  v = vv;
  T vhat = vv;
  if (hp.amsgrad) {
    vhat = hd_max(vmax, vv);
    vmax = vhat;
  }
  const T denom = hd_sqrt(vhat) * hp.inv_bc2_sqrt + hp.eps;
  p = pp + hp.neg_step_size * (mm / denom);
}

// ---- RMSprop -------------------------------------------------------------------------------
//   sq <- alpha sq + (1 - alpha) g^2
//   centered: ga <- ga + (1 - alpha)(g - ga), avg = sqrt(sq - ga^2) + eps
//   else:     avg = sqrt(sq) + eps                      (eps outside the sqrt, as PyTorch)
//   momentum > 0: buf <- mu buf + g / avg, p <- p - lr buf;  else p <- p - lr g / avg.
// All state starts at 0 (PyTorch), not at g^2.
template <class T>
struct RmspropParams {
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

template <class T>
FG_HD RmspropParams<T> make_rmsprop_params(double lr, double alpha, double eps,
                                           double weight_decay, double momentum,
                                           bool centered, bool maximize) {
  return RmspropParams<T>{T(lr),           T(alpha),    T(1.0 - alpha), T(eps),
                          T(weight_decay), T(momentum), centered,       maximize};
}

// grad_avg / buf are ignored unless centered / momentum > 0.
template <class T>
FG_HD void rmsprop_update(T& p, T g, T& square_avg, T& grad_avg, T& buf,
                          const RmspropParams<T>& hp) {
  if (hp.maximize) g = -g;
  const T pp = p;
  if (hp.weight_decay != T(0)) g = g + hp.weight_decay * pp;
  const T sq = square_avg * hp.alpha + hp.one_minus_alpha * g * g;
  square_avg = sq;
  T avg;
  if (hp.centered) {
    const T ga = grad_avg + hp.one_minus_alpha * (g - grad_avg);
    grad_avg = ga;
    avg = hd_sqrt(sq + T(-1) * ga * ga) + hp.eps;
  } else {
    avg = hd_sqrt(sq) + hp.eps;
  }
  if (hp.momentum > T(0)) {
    const T b = buf * hp.momentum + g / avg;
    buf = b;
    p = pp + (-hp.lr) * b;
  } else {
    p = pp + (-hp.lr) * (g / avg);
  }
}

// ---- Adagrad -------------------------------------------------------------------------------
//   clr = lr / (1 + (t - 1) lr_decay)      (t = this tensor's step, already incremented)
//   sum <- sum + g^2,  p <- p - clr g / (sqrt(sum) + eps)
// `sum` starts at initial_accumulator_value (set when the state is created).
template <class T>
struct AdagradParams {
  T neg_clr, eps, weight_decay;
  bool maximize;
};

template <class T>
FG_HD AdagradParams<T> make_adagrad_params(double step, double lr, double lr_decay,
                                           double eps, double weight_decay, bool maximize) {
  const double clr = lr / (1.0 + (step - 1.0) * lr_decay);
  return AdagradParams<T>{T(-clr), T(eps), T(weight_decay), maximize};
}

template <class T>
FG_HD void adagrad_update(T& p, T g, T& sum, const AdagradParams<T>& hp) {
  if (hp.maximize) g = -g;
  const T pp = p;
  if (hp.weight_decay != T(0)) g = g + hp.weight_decay * pp;
  const T s = sum + g * g;
  sum = s;
  p = pp + hp.neg_clr * (g / (hd_sqrt(s) + hp.eps));
}

// ---- Adadelta ------------------------------------------------------------------------------
//   sq <- rho sq + (1 - rho) g^2
//   delta = sqrt(acc + eps) / sqrt(sq + eps) * g     (acc: accumulated squared updates)
//   acc <- rho acc + (1 - rho) delta^2,   p <- p - lr delta       (PyTorch default lr = 1.0)
template <class T>
struct AdadeltaParams {
  T lr, rho, one_minus_rho, eps, weight_decay;
  bool maximize;
};

template <class T>
FG_HD AdadeltaParams<T> make_adadelta_params(double lr, double rho, double eps,
                                             double weight_decay, bool maximize) {
  return AdadeltaParams<T>{T(lr), T(rho), T(1.0 - rho), T(eps), T(weight_decay), maximize};
}

template <class T>
FG_HD void adadelta_update(T& p, T g, T& square_avg, T& acc_delta,
                           const AdadeltaParams<T>& hp) {
  if (hp.maximize) g = -g;
  const T pp = p;
  if (hp.weight_decay != T(0)) g = g + hp.weight_decay * pp;
  const T sq = square_avg * hp.rho + hp.one_minus_rho * g * g;
  square_avg = sq;
  const T a = acc_delta;
  const T delta = hd_sqrt(a + hp.eps) / hd_sqrt(sq + hp.eps) * g;
  acc_delta = a * hp.rho + hp.one_minus_rho * delta * delta;
  p = pp + (-hp.lr) * delta;
}

// ---- gradient clipping (nn.utils.clip_grad_norm_ / clip_grad_value_) ----------------------
// The total norm over many tensors is a sum (or max) of per-element terms, accumulated in
// double whatever T is: |g|^p for a finite p (g^2 for p = 2, |g| for p = 1), |g| for inf.
template <class T>
FG_HD double norm_term(T g, double norm_type) {
  const double a = hd_abs(double(g));
  if (norm_type == 2.0) return a * a;
  if (norm_type == 1.0) return a;
  return hd_pow(a, norm_type);
}

// clip_grad_value_: g <- min(max(g, lo), hi). NaN stays NaN (torch.clamp).
template <class T>
FG_HD T clamp_value(T g, T lo, T hi) {
  return g < lo ? lo : (g > hi ? hi : g);
}

}  // namespace math
}  // namespace fg
