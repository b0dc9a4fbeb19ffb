// Bindings for the loss kernel family (csrc/cpu/loss.h): softmax_cross_entropy_*,
// softmax_* / log_softmax_*, nll_loss_*, bce_with_logits_*, mse_loss_*, find_bad_label.
#include "cpu/loss.h"

#include "bindings/common.h"

namespace fg::bind {
namespace {

// A C-contiguous input of x's dtype and shape.
void check_like(const py::array& a, const char* an, const py::array& x, const char* xn) {
  check_same_dtype(a, an, x, xn);
  check_same_shape(a, an, x, xn);
  check_contiguous(a, an);
}

void check_out_like(const py::array& a, const char* an, const py::array& x, const char* xn) {
  check_same_dtype(a, an, x, xn);
  check_same_shape(a, an, x, xn);
  check_out(a, an);
}

// (n, c) of a 2-D C-contiguous float array.
void rows_of(const py::array& x, const char* name, int64_t* n, int64_t* c) {
  if (x.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected a 2-D (N, C) array, got shape " +
                                shape_str(x));
  check_contiguous(x, name);
  *n = x.shape(0);
  *c = x.shape(1);
}

// (rows, last-axis length) of an array of any rank >= 1 (softmax along the last axis).
void last_axis_of(const py::array& x, const char* name, int64_t* n, int64_t* c) {
  if (x.ndim() < 1)
    throw std::invalid_argument(std::string(name) + ": expected at least 1 dimension");
  check_contiguous(x, name);
  *c = x.shape(x.ndim() - 1);
  *n = *c > 0 ? static_cast<int64_t>(x.size()) / *c : 0;
}

// int64 labels of shape (n,), every one in [0, c) or equal to ignore_index (IndexError).
const int64_t* labels_of(const py::array& labels, int64_t n, int64_t c, int64_t ignore_index) {
  check_dtype(labels, "labels", DType::kI64, "int64");
  if (labels.ndim() != 1 || labels.shape(0) != n)
    throw std::invalid_argument("labels: expected shape (" + std::to_string(n) + ",), got " +
                                shape_str(labels));
  check_contiguous(labels, "labels");
  const auto* p = static_cast<const int64_t*>(labels.data());
  const int64_t bad = fg::cpu::find_bad_label(p, n, c, ignore_index);
  if (bad >= 0)
    throw py::index_error("Target " + std::to_string(p[bad]) + " is out of bounds: labels must be in [0, " +
                          std::to_string(c) + ") (n_classes = " + std::to_string(c) +
                          ") or equal ignore_index " + std::to_string(ignore_index));
  return p;
}

// Optional array of x's dtype with the given length (None -> nullptr).
template <class T>
const T* opt_vec(const py::object& o, const py::array& x, int64_t len, const char* name) {
  if (o.is_none()) return nullptr;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(name) + ": expected a NumPy array or None");
  auto a = py::reinterpret_borrow<py::array>(o);
  check_same_dtype(a, name, x, "input");
  if (a.size() != len)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(len) +
                                " elements, got shape " + shape_str(a));
  check_contiguous(a, name);
  return static_cast<const T*>(a.data());
}

// Stride of gy: a scalar (1 element) for a reduced loss, or one value per row.
int64_t gy_stride_of(const py::array& gy, const py::array& x, int64_t n) {
  check_same_dtype(gy, "gy", x, "input");
  check_contiguous(gy, "gy");
  if (gy.size() == 1) return 0;
  if (gy.size() == n) return 1;
  throw std::invalid_argument("gy: expected 1 or " + std::to_string(n) + " elements, got shape " +
                              shape_str(gy));
}

py::tuple ce_forward(const py::array& logits, const py::array& labels, const py::object& weight,
                     py::array& loss, py::array& lse, int64_t ignore_index, double smoothing) {
  int64_t n, c;
  rows_of(logits, "logits", &n, &c);
  const DType dt = float_dtype(logits, "logits");
  const int64_t* lab = labels_of(labels, n, c, ignore_index);
  for (py::array* a : {&loss, &lse}) {
    check_same_dtype(*a, "loss/lse", logits, "logits");
    if (a->ndim() != 1 || a->shape(0) != n)
      throw std::invalid_argument("loss/lse: expected shape (" + std::to_string(n) + ",), got " +
                                  shape_str(*a));
    check_out(*a, "loss/lse");
  }
  double loss_sum = 0, weight_sum = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt_vec<T>(weight, logits, c, "weight");
    const T* z = in_ptr<T>(logits);
    T* lp = out_ptr<T>(loss);
    T* sp = out_ptr<T>(lse);
    py::gil_scoped_release nogil;
    fg::cpu::softmax_cross_entropy_forward<T>(z, lab, w, lp, sp, n, c, ignore_index, smoothing,
                                              &loss_sum, &weight_sum);
  });
  return py::make_tuple(loss_sum, weight_sum);
}

void ce_backward(const py::array& logits, const py::array& labels, const py::object& weight,
                 const py::array& lse, const py::array& gy, py::array& gx, int64_t ignore_index,
                 double smoothing, double scale) {
  int64_t n, c;
  rows_of(logits, "logits", &n, &c);
  const DType dt = float_dtype(logits, "logits");
  const int64_t* lab = labels_of(labels, n, c, ignore_index);
  check_out_like(gx, "gx", logits, "logits");
  const int64_t gs = gy_stride_of(gy, logits, n);
  if (lse.size() != n) throw std::invalid_argument("lse: expected shape (" + std::to_string(n) + ",)");
  check_same_dtype(lse, "lse", logits, "logits");
  check_contiguous(lse, "lse");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt_vec<T>(weight, logits, c, "weight");
    const T* z = in_ptr<T>(logits);
    const T* sp = in_ptr<T>(lse);
    const T* gp = in_ptr<T>(gy);
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    fg::cpu::softmax_cross_entropy_backward<T>(z, lab, w, sp, gp, out, n, c, gs, ignore_index,
                                               smoothing, scale);
  });
}

template <bool kLog>
void softmax_fwd(const py::array& x, py::array& y) {
  int64_t n, c;
  last_axis_of(x, "x", &n, &c);
  const DType dt = float_dtype(x, "x");
  check_out_like(y, "y", x, "x");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    T* yp = out_ptr<T>(y);
    py::gil_scoped_release nogil;
    if (kLog)
      fg::cpu::log_softmax_forward<T>(xp, yp, n, c);
    else
      fg::cpu::softmax_forward<T>(xp, yp, n, c);
  });
}

template <bool kLog>
void softmax_bwd(const py::array& y, const py::array& gy, py::array& gx) {
  int64_t n, c;
  last_axis_of(y, "y", &n, &c);
  const DType dt = float_dtype(y, "y");
  check_like(gy, "gy", y, "y");
  check_out_like(gx, "gx", y, "y");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* yp = in_ptr<T>(y);
    const T* gp = in_ptr<T>(gy);
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    if (kLog)
      fg::cpu::log_softmax_backward<T>(yp, gp, out, n, c);
    else
      fg::cpu::softmax_backward<T>(yp, gp, out, n, c);
  });
}

py::tuple nll_forward(const py::array& x, const py::array& labels, const py::object& weight,
                      py::array& loss, int64_t ignore_index) {
  int64_t n, c;
  rows_of(x, "x", &n, &c);
  const DType dt = float_dtype(x, "x");
  const int64_t* lab = labels_of(labels, n, c, ignore_index);
  check_same_dtype(loss, "loss", x, "x");
  if (loss.ndim() != 1 || loss.shape(0) != n)
    throw std::invalid_argument("loss: expected shape (" + std::to_string(n) + ",), got " +
                                shape_str(loss));
  check_out(loss, "loss");
  double loss_sum = 0, weight_sum = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt_vec<T>(weight, x, c, "weight");
    const T* xp = in_ptr<T>(x);
    T* lp = out_ptr<T>(loss);
    py::gil_scoped_release nogil;
    fg::cpu::nll_loss_forward<T>(xp, lab, w, lp, n, c, ignore_index, &loss_sum, &weight_sum);
  });
  return py::make_tuple(loss_sum, weight_sum);
}

void nll_backward(const py::array& labels, const py::object& weight, const py::array& gy,
                  py::array& gx, int64_t ignore_index, double scale) {
  int64_t n, c;
  rows_of(gx, "gx", &n, &c);
  const DType dt = float_dtype(gx, "gx");
  check_out(gx, "gx");
  const int64_t* lab = labels_of(labels, n, c, ignore_index);
  const int64_t gs = gy_stride_of(gy, gx, n);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt_vec<T>(weight, gx, c, "weight");
    const T* gp = in_ptr<T>(gy);
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    fg::cpu::nll_loss_backward<T>(lab, w, gp, out, n, c, gs, ignore_index, scale);
  });
}

double bce_forward(const py::array& z, const py::array& t, const py::object& pos_weight,
                   py::array& loss) {
  const DType dt = float_dtype(z, "input");
  check_contiguous(z, "input");
  check_like(t, "target", z, "input");
  check_out_like(loss, "loss", z, "input");
  const int64_t n = z.size();
  double s = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* q = opt_vec<T>(pos_weight, z, n, "pos_weight");
    const T* zp = in_ptr<T>(z);
    const T* tp = in_ptr<T>(t);
    T* lp = out_ptr<T>(loss);
    py::gil_scoped_release nogil;
    fg::cpu::bce_with_logits_forward<T>(zp, tp, q, lp, n, &s);
  });
  return s;
}

void bce_backward(const py::array& z, const py::array& t, const py::object& pos_weight,
                  const py::array& gy, py::array& gx, double scale) {
  const DType dt = float_dtype(z, "input");
  check_contiguous(z, "input");
  check_like(t, "target", z, "input");
  check_out_like(gx, "gx", z, "input");
  const int64_t n = z.size();
  const int64_t gs = gy_stride_of(gy, z, n);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* q = opt_vec<T>(pos_weight, z, n, "pos_weight");
    const T* zp = in_ptr<T>(z);
    const T* tp = in_ptr<T>(t);
    const T* gp = in_ptr<T>(gy);
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    fg::cpu::bce_with_logits_backward<T>(zp, tp, q, gp, out, n, gs, scale);
  });
}

double mse_forward(const py::array& x, const py::array& t, py::array& loss) {
  const DType dt = float_dtype(x, "input");
  check_contiguous(x, "input");
  check_like(t, "target", x, "input");
  check_out_like(loss, "loss", x, "input");
  const int64_t n = x.size();
  double s = 0;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in_ptr<T>(x);
    const T* tp = in_ptr<T>(t);
    T* lp = out_ptr<T>(loss);
    py::gil_scoped_release nogil;
    fg::cpu::mse_loss_forward<T>(xp, tp, lp, n, &s);
  });
  return s;
}

void mse_backward(const py::array& x, const py::array& t, const py::array& gy, py::array& gx,
                  const py::object& gt, double scale) {
  const DType dt = float_dtype(x, "input");
  check_contiguous(x, "input");
  check_like(t, "target", x, "input");
  check_out_like(gx, "gx", x, "input");
  const int64_t n = x.size();
  const int64_t gs = gy_stride_of(gy, x, n);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    T* gtp = nullptr;
    if (!gt.is_none()) {
      if (!py::isinstance<py::array>(gt)) throw py::type_error("gt: expected a NumPy array or None");
      auto a = py::reinterpret_borrow<py::array>(gt);
      check_out_like(a, "gt", x, "input");
      gtp = static_cast<T*>(a.mutable_data());
    }
    const T* xp = in_ptr<T>(x);
    const T* tp = in_ptr<T>(t);
    const T* gp = in_ptr<T>(gy);
    T* out = out_ptr<T>(gx);
    py::gil_scoped_release nogil;
    fg::cpu::mse_loss_backward<T>(xp, tp, gp, out, gtp, n, gs, scale);
  });
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def(
      "find_bad_label",
      [](const py::array& labels, int64_t n_classes, int64_t ignore_index) {
        check_dtype(labels, "labels", DType::kI64, "int64");
        check_contiguous(labels, "labels");
        return fg::cpu::find_bad_label(static_cast<const int64_t*>(labels.data()), labels.size(),
                                       n_classes, ignore_index);
      },
      py::arg("labels").noconvert(), py::arg("n_classes"), py::arg("ignore_index"),
      "Index of the first label outside [0, n_classes) that is not ignore_index, or -1.");
  m.def("softmax_cross_entropy_forward", &ce_forward, py::arg("logits").noconvert(),
        py::arg("labels").noconvert(), py::arg("weight").none(true), py::arg("loss").noconvert(),
        py::arg("lse").noconvert(), py::arg("ignore_index"), py::arg("smoothing"),
        "Fused softmax cross-entropy forward: per-row loss and log-sum-exp; returns "
        "(loss_sum, weight_sum). IndexError for a label out of range.");
  m.def("softmax_cross_entropy_backward", &ce_backward, py::arg("logits").noconvert(),
        py::arg("labels").noconvert(), py::arg("weight").none(true), py::arg("lse").noconvert(),
        py::arg("gy").noconvert(), py::arg("gx").noconvert(), py::arg("ignore_index"),
        py::arg("smoothing"), py::arg("scale"),
        "Fused softmax cross-entropy backward: gx = g·(softmax - smoothed one-hot), weighted.");
  m.def("softmax_forward", &softmax_fwd<false>, py::arg("x").noconvert(), py::arg("y").noconvert(),
        "Softmax along the last axis.");
  m.def("log_softmax_forward", &softmax_fwd<true>, py::arg("x").noconvert(),
        py::arg("y").noconvert(), "Log-softmax along the last axis.");
  m.def("softmax_backward", &softmax_bwd<false>, py::arg("y").noconvert(),
        py::arg("gy").noconvert(), py::arg("gx").noconvert(), "gx = y·(gy - Σgy·y).");
  m.def("log_softmax_backward", &softmax_bwd<true>, py::arg("y").noconvert(),
        py::arg("gy").noconvert(), py::arg("gx").noconvert(), "gx = gy - exp(y)·Σgy.");
  m.def("nll_loss_forward", &nll_forward, py::arg("x").noconvert(), py::arg("labels").noconvert(),
        py::arg("weight").none(true), py::arg("loss").noconvert(), py::arg("ignore_index"),
        "NLL per row on log-probabilities; returns (loss_sum, weight_sum).");
  m.def("nll_loss_backward", &nll_backward, py::arg("labels").noconvert(),
        py::arg("weight").none(true), py::arg("gy").noconvert(), py::arg("gx").noconvert(),
        py::arg("ignore_index"), py::arg("scale"), "NLL backward into a zeroed-and-filled gx.");
  m.def("bce_with_logits_forward", &bce_forward, py::arg("input").noconvert(),
        py::arg("target").noconvert(), py::arg("pos_weight").none(true),
        py::arg("loss").noconvert(), "Stable BCE with logits per element; returns the sum.");
  m.def("bce_with_logits_backward", &bce_backward, py::arg("input").noconvert(),
        py::arg("target").noconvert(), py::arg("pos_weight").none(true),
        py::arg("gy").noconvert(), py::arg("gx").noconvert(), py::arg("scale"),
        "BCE with logits backward w.r.t. the logits.");
  m.def("mse_loss_forward", &mse_forward, py::arg("input").noconvert(),
        py::arg("target").noconvert(), py::arg("loss").noconvert(),
        "Squared error per element; returns the sum.");
  m.def("mse_loss_backward", &mse_backward, py::arg("input").noconvert(),
        py::arg("target").noconvert(), py::arg("gy").noconvert(), py::arg("gx").noconvert(),
        py::arg("gt").none(true), py::arg("scale"), "gx = 2(x - t)·g·scale, gt = -gx.");
}

}  // namespace fg::bind
