// Bindings for the optim family: one call per parameter group (see Note [Optimizer pointer
// table] in cpu/optim.h). Each binding takes Python lists of NumPy arrays (params, grads,
// state), validates every entry (C-contiguous, float32/float64 like params[0], same shape as
// its param, writable where updated, no two arrays of one parameter sharing data), builds
// the pointer table with the GIL held, then releases the GIL around the C++ loop.
//
//   sgd_step(params, grads, momentum_buffers, first, lr, momentum, dampening, weight_decay,
//            nesterov, maximize)
//   adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2,
//             eps, weight_decay, amsgrad, decoupled, maximize)        (AdamW: decoupled=True)
//   rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps,
//                weight_decay, momentum, centered, maximize)
//   adagrad_step(params, grads, state_sums, steps, lr, lr_decay, eps, weight_decay, maximize)
//   adadelta_step(params, grads, square_avgs, acc_deltas, lr, rho, eps, weight_decay, maximize)
//   grad_norm(grads, norm_type) -> float;  scale_(arrays, factor);  clamp_(arrays, lo, hi)
//   stream_triad(a, b, c, s): a = b + s*c, the bandwidth reference of bench/bench_optim.py
// State lists an option does not use may be None (max_exp_avg_sqs without amsgrad, ...).
// `first` and `steps` hold one value per parameter.
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/common.h"
#include "cpu/optim.h"

namespace fg::bind {
namespace {

// One list argument: its name in messages, whether it is updated in place, whether it is used.
struct ListSpec {
  const char* name;
  py::handle seq;
  bool inplace;
  bool used;
};

// The validated group: dtype, element counts and, per list, the data pointers.
struct Group {
  DType dt = DType::kF32;
  std::vector<int64_t> sizes;
  std::vector<std::vector<void*>> ptrs;
};

std::string item_name(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

py::array array_item(py::handle seq, const char* list, size_t i) {
  py::handle obj = py::reinterpret_borrow<py::sequence>(seq)[i];
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(item_name(list, i) + ": expected a numpy array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

// specs[0] is the reference list (the params). Lists must all have its length; every array
// must match params[i]'s shape and dtype.
Group collect(const std::vector<ListSpec>& specs) {
  Group g;
  if (!py::isinstance<py::sequence>(specs[0].seq))
    throw py::type_error(std::string(specs[0].name) + ": expected a list of numpy arrays");
  const size_t n = py::len(specs[0].seq);
  for (const ListSpec& s : specs) {
    if (!s.used) continue;
    if (s.seq.is_none() || !py::isinstance<py::sequence>(s.seq))
      throw py::type_error(std::string(s.name) + ": expected a list of numpy arrays");
    if (py::len(s.seq) != n)
      throw std::invalid_argument(std::string(s.name) + " has " +
                                  std::to_string(py::len(s.seq)) + " arrays but " +
                                  specs[0].name + " has " + std::to_string(n));
  }
  g.sizes.resize(n);
  g.ptrs.assign(specs.size(), std::vector<void*>(n, nullptr));
  for (size_t i = 0; i < n; ++i) {
    const py::array ref = array_item(specs[0].seq, specs[0].name, i);
    const std::string ref_name = item_name(specs[0].name, i);
    const DType dt = float_dtype(ref, ref_name.c_str());
    if (i == 0) {
      g.dt = dt;
    } else if (dt != g.dt) {
      const py::array first = array_item(specs[0].seq, specs[0].name, 0);
      check_same_dtype(ref, ref_name.c_str(), first, item_name(specs[0].name, 0).c_str());
    }
    g.sizes[i] = static_cast<int64_t>(ref.size());
    for (size_t k = 0; k < specs.size(); ++k) {
      const ListSpec& s = specs[k];
      if (!s.used) continue;
      const py::array a = k == 0 ? ref : array_item(s.seq, s.name, i);
      const std::string nm = item_name(s.name, i);
      if (k != 0) {
        check_same_dtype(a, nm.c_str(), ref, ref_name.c_str());
        check_same_shape(a, nm.c_str(), ref, ref_name.c_str());
      }
      if (s.inplace) {
        check_out(a, nm.c_str());
      } else {
        check_contiguous(a, nm.c_str());
      }
      void* p = const_cast<void*>(a.data());
      if (g.sizes[i] > 0) {
        for (size_t q = 0; q < k; ++q)
          if (specs[q].used && g.ptrs[q][i] == p)
            throw std::invalid_argument(nm + " and " + item_name(specs[q].name, i) +
                                        " are the same array; each needs its own storage");
      }
      g.ptrs[k][i] = p;
    }
  }
  return g;
}

template <class T>
std::vector<T*> typed(const std::vector<void*>& v) {
  std::vector<T*> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<T*>(v[i]);
  return out;
}

template <class T>
std::vector<const T*> typed_const(const std::vector<void*>& v) {
  std::vector<const T*> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<const T*>(v[i]);
  return out;
}

template <class V>
std::vector<V> per_param(py::handle seq, const char* name, size_t n) {
  if (!py::isinstance<py::sequence>(seq))
    throw py::type_error(std::string(name) + ": expected a list with one value per parameter");
  std::vector<V> out = seq.cast<std::vector<V>>();
  if (out.size() != n)
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(out.size()) +
                                " values but there are " + std::to_string(n) + " params");
  return out;
}

void sgd_step(py::handle params, py::handle grads, py::handle momentum_buffers,
              py::handle first, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize) {
  const bool has_mom = momentum != 0.0;
  Group g = collect({{"params", params, true, true},
                     {"grads", grads, false, true},
                     {"momentum_buffers", momentum_buffers, true, has_mom}});
  const size_t n = g.sizes.size();
  std::vector<uint8_t> fst(n, 0);
  if (has_mom) {
    const auto f = per_param<bool>(first, "first", n);
    for (size_t i = 0; i < n; ++i) fst[i] = f[i] ? 1 : 0;
  }
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = typed<T>(g.ptrs[0]);
    auto gr = typed_const<T>(g.ptrs[1]);
    auto b = typed<T>(g.ptrs[2]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().sgd_step(gr.data(), p.data(), b.data(), fst.data(),
                                         g.sizes.data(), static_cast<int64_t>(n), lr, momentum,
                                         dampening, weight_decay, nesterov, maximize);
  });
}

void adam_step(py::handle params, py::handle grads, py::handle exp_avgs,
               py::handle exp_avg_sqs, py::handle max_exp_avg_sqs, py::handle steps, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
               bool decoupled, bool maximize) {
  Group g = collect({{"params", params, true, true},
                     {"grads", grads, false, true},
                     {"exp_avgs", exp_avgs, true, true},
                     {"exp_avg_sqs", exp_avg_sqs, true, true},
                     {"max_exp_avg_sqs", max_exp_avg_sqs, true, amsgrad}});
  const size_t n = g.sizes.size();
  const auto st = per_param<double>(steps, "steps", n);
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = typed<T>(g.ptrs[0]);
    auto gr = typed_const<T>(g.ptrs[1]);
    auto m = typed<T>(g.ptrs[2]);
    auto v = typed<T>(g.ptrs[3]);
    auto vmax = typed<T>(g.ptrs[4]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().adam_step(gr.data(), p.data(), m.data(), v.data(), vmax.data(),
                                          g.sizes.data(), static_cast<int64_t>(n), st.data(),
                                          lr, beta1, beta2, eps, weight_decay, amsgrad,
                                          decoupled, maximize);
  });
}

void rmsprop_step(py::handle params, py::handle grads, py::handle square_avgs,
                  py::handle grad_avgs, py::handle momentum_buffers, double lr, double alpha,
                  double eps, double weight_decay, double momentum, bool centered,
                  bool maximize) {
  Group g = collect({{"params", params, true, true},
                     {"grads", grads, false, true},
                     {"square_avgs", square_avgs, true, true},
                     {"grad_avgs", grad_avgs, true, centered},
                     {"momentum_buffers", momentum_buffers, true, momentum > 0.0}});
  const size_t n = g.sizes.size();
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = typed<T>(g.ptrs[0]);
    auto gr = typed_const<T>(g.ptrs[1]);
    auto sq = typed<T>(g.ptrs[2]);
    auto ga = typed<T>(g.ptrs[3]);
    auto b = typed<T>(g.ptrs[4]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().rmsprop_step(gr.data(), p.data(), sq.data(), ga.data(),
                                             b.data(), g.sizes.data(), static_cast<int64_t>(n),
                                             lr, alpha, eps, weight_decay, momentum, centered,
                                             maximize);
  });
}

void adagrad_step(py::handle params, py::handle grads, py::handle state_sums, py::handle steps,
                  double lr, double lr_decay, double eps, double weight_decay, bool maximize) {
  Group g = collect({{"params", params, true, true},
                     {"grads", grads, false, true},
                     {"state_sums", state_sums, true, true}});
  const size_t n = g.sizes.size();
  const auto st = per_param<double>(steps, "steps", n);
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = typed<T>(g.ptrs[0]);
    auto gr = typed_const<T>(g.ptrs[1]);
    auto s = typed<T>(g.ptrs[2]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().adagrad_step(gr.data(), p.data(), s.data(), g.sizes.data(),
                                             static_cast<int64_t>(n), st.data(), lr, lr_decay,
                                             eps, weight_decay, maximize);
  });
}

void adadelta_step(py::handle params, py::handle grads, py::handle square_avgs,
                   py::handle acc_deltas, double lr, double rho, double eps, double weight_decay,
                   bool maximize) {
  Group g = collect({{"params", params, true, true},
                     {"grads", grads, false, true},
                     {"square_avgs", square_avgs, true, true},
                     {"acc_deltas", acc_deltas, true, true}});
  const size_t n = g.sizes.size();
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = typed<T>(g.ptrs[0]);
    auto gr = typed_const<T>(g.ptrs[1]);
    auto sq = typed<T>(g.ptrs[2]);
    auto acc = typed<T>(g.ptrs[3]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().adadelta_step(gr.data(), p.data(), sq.data(), acc.data(),
                                              g.sizes.data(), static_cast<int64_t>(n), lr, rho,
                                              eps, weight_decay, maximize);
  });
}

double grad_norm(py::handle grads, double norm_type) {
  if (!(norm_type > 0.0))
    throw std::invalid_argument("grad_norm: norm_type must be > 0 (or inf), got " +
                                std::to_string(norm_type));
  Group g = collect({{"grads", grads, false, true}});
  const size_t n = g.sizes.size();
  if (n == 0) return 0.0;
  return dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto gr = typed_const<T>(g.ptrs[0]);
    py::gil_scoped_release release;
    return fg::cpu::optim_kernels<T>().grad_norm(gr.data(), g.sizes.data(),
                                                 static_cast<int64_t>(n), norm_type);
  });
}

void scale_(py::handle arrays, double factor) {
  Group g = collect({{"arrays", arrays, true, true}});
  const size_t n = g.sizes.size();
  if (n == 0) return;
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto a = typed<T>(g.ptrs[0]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().scale_(a.data(), g.sizes.data(), static_cast<int64_t>(n),
                                       factor);
  });
}

void clamp_(py::handle arrays, double lo, double hi) {
  Group g = collect({{"arrays", arrays, true, true}});
  const size_t n = g.sizes.size();
  if (n == 0) return;
  dispatch_float(g.dt, [&](auto tag) {
    using T = decltype(tag);
    auto a = typed<T>(g.ptrs[0]);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().clamp_(a.data(), g.sizes.data(), static_cast<int64_t>(n), lo,
                                       hi);
  });
}

void stream_triad(py::array a, py::array b, py::array c, double s) {
  const DType dt = float_dtype(a, "a");
  check_out(a, "a");
  auto check_in = [&](const py::array& x, const char* nm) {
    check_same_dtype(x, nm, a, "a");
    check_same_shape(x, nm, a, "a");
    check_contiguous(x, nm);
    if (x.data() == a.data() && a.size() > 0)
      throw std::invalid_argument(std::string(nm) + " and a are the same array");
  };
  check_in(b, "b");
  check_in(c, "c");
  const auto n = static_cast<int64_t>(a.size());
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* pb = in_ptr<T>(b);
    const T* pc = in_ptr<T>(c);
    T* pa = out_ptr<T>(a);
    py::gil_scoped_release release;
    fg::cpu::optim_kernels<T>().stream_triad(pb, pc, pa, n, s);
  });
}

}  // namespace

void bind_optim(py::module_& m) {
  using py::arg;
  m.def("sgd_step", &sgd_step, arg("params"), arg("grads"), arg("momentum_buffers"),
        arg("first"), arg("lr"), arg("momentum"), arg("dampening"), arg("weight_decay"),
        arg("nesterov"), arg("maximize"),
        "One fused SGD step over a parameter group (lists of arrays, updated in place).");
  m.def("adam_step", &adam_step, arg("params"), arg("grads"), arg("exp_avgs"),
        arg("exp_avg_sqs"), arg("max_exp_avg_sqs"), arg("steps"), arg("lr"), arg("beta1"),
        arg("beta2"), arg("eps"), arg("weight_decay"), arg("amsgrad"), arg("decoupled"),
        arg("maximize"),
        "One fused Adam (decoupled=False) or AdamW (decoupled=True) step over a group.");
  m.def("rmsprop_step", &rmsprop_step, arg("params"), arg("grads"), arg("square_avgs"),
        arg("grad_avgs"), arg("momentum_buffers"), arg("lr"), arg("alpha"), arg("eps"),
        arg("weight_decay"), arg("momentum"), arg("centered"), arg("maximize"),
        "One fused RMSprop step over a parameter group.");
  m.def("adagrad_step", &adagrad_step, arg("params"), arg("grads"), arg("state_sums"),
        arg("steps"), arg("lr"), arg("lr_decay"), arg("eps"), arg("weight_decay"),
        arg("maximize"), "One fused Adagrad step over a parameter group.");
  m.def("adadelta_step", &adadelta_step, arg("params"), arg("grads"), arg("square_avgs"),
        arg("acc_deltas"), arg("lr"), arg("rho"), arg("eps"), arg("weight_decay"),
        arg("maximize"), "One fused Adadelta step over a parameter group.");
  m.def("grad_norm", &grad_norm, arg("grads"), arg("norm_type"),
        "Total p-norm (p = inf: max |g|) over a list of arrays, one pass, in double.");
  m.def("scale_", &scale_, arg("arrays"), arg("factor"),
        "Multiply every array of the list by factor, in place, one pass.");
  m.def("clamp_", &clamp_, arg("arrays"), arg("lo"), arg("hi"),
        "Clamp every array of the list to [lo, hi], in place, one pass.");
  m.def("stream_triad", &stream_triad, arg("a").noconvert(), arg("b").noconvert(),
        arg("c").noconvert(), arg("s"),
        "STREAM triad a = b + s*c (bandwidth reference for bench/bench_optim.py), threaded.");
  m.def("optim_isa", &fg::cpu::optim_isa,
        "Instruction set the optimizer kernels run with (x86-64-v4, x86-64-v3, baseline).");
}

}  // namespace fg::bind
