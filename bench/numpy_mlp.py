"""Hand-written NumPy MLP: the "hand-written NumPy" baseline of the training benchmarks.

A ReLU MLP trained with softmax cross-entropy and Adam, written the way a competent NumPy
programmer would: float32 throughout, every buffer preallocated per batch size, matmuls into
``out=`` arrays, and all parameters, gradients and Adam moments living in flat contiguous
buffers (each layer's W and b are views), so one Adam step is a handful of in-place array
operations over all parameters. No fusegrad import.

Usage as a script (times 64-128-128-10 on the digits, batch 32, Adam, 1 thread):
    python bench/numpy_mlp.py [--hidden 128,128] [--batch-size 32] [--epochs 10] [--threads 1]
As a library: ``NumpyMLP``, ``time_training(X, y, sizes, batch_size, ...)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


class NumpyMLP:
    """Linear -> ReLU -> ... -> Linear, softmax cross-entropy (mean), Adam (PyTorch formulas).

    Args:
        sizes: layer widths, input first and classes last (e.g. ``(64, 128, 128, 10)``).
        lr, betas, eps: Adam hyper-parameters (``torch.optim.Adam`` defaults).
        seed: initialisation seed. Weights and biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            as ``torch.nn.Linear``.
    """

    def __init__(
        self,
        sizes: tuple[int, ...],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        seed: int = 0,
    ) -> None:
        self.sizes = tuple(sizes)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        shapes = [s for fan_in, fan_out in zip(sizes[:-1], sizes[1:]) for s in
                  ((fan_in, fan_out), (fan_out,))]
        total = sum(int(np.prod(s)) for s in shapes)
        self.params = np.empty(total, np.float32)
        self.grads = np.zeros(total, np.float32)
        self.exp_avg = np.zeros(total, np.float32)
        self.exp_avg_sq = np.zeros(total, np.float32)
        self._tmp = np.empty(total, np.float32)  # Adam scratch
        self.W, self.b, self.gW, self.gb = [], [], [], []
        rng = np.random.default_rng(seed)
        offset = 0
        for i, shape in enumerate(shapes):
            size = int(np.prod(shape))
            p = self.params[offset : offset + size].reshape(shape)
            g = self.grads[offset : offset + size].reshape(shape)
            bound = 1.0 / np.sqrt(shapes[i - i % 2][0])  # fan_in of this layer
            p[...] = rng.uniform(-bound, bound, size=shape)
            (self.W if i % 2 == 0 else self.b).append(p)
            (self.gW if i % 2 == 0 else self.gb).append(g)
            offset += size
        self.step_count = 0
        self._batch = -1

    def _buffers(self, batch: int) -> None:
        """(Re)allocates activation buffers for this batch size (the last batch may be short)."""
        self._batch = batch
        self.acts = [np.empty((batch, n), np.float32) for n in self.sizes[1:]]
        self.dacts = [np.empty((batch, n), np.float32) for n in self.sizes[1:]]
        self._rowmax = np.empty((batch, 1), np.float32)
        self._rowsum = np.empty((batch, 1), np.float32)
        self._rows = np.arange(batch)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits for a batch ``x`` (float32, (B, sizes[0])); keeps activations for backward."""
        if x.shape[0] != self._batch:
            self._buffers(x.shape[0])
        self._x = x
        h = x
        last = len(self.W) - 1
        for i, (W, b, a) in enumerate(zip(self.W, self.b, self.acts)):
            np.matmul(h, W, out=a)
            a += b
            if i < last:
                np.maximum(a, 0.0, out=a)
            h = a
        return h

    def loss_and_backward(self, y: np.ndarray) -> float:
        """Mean softmax cross-entropy of the last forward against labels ``y``; fills grads.

        d loss / d logits = (softmax(z) - onehot(y)) / B, computed in place from the
        max-shifted exponentials (the stable log-sum-exp form).
        """
        z, g = self.acts[-1], self.dacts[-1]
        B = z.shape[0]
        np.max(z, axis=1, keepdims=True, out=self._rowmax)
        np.subtract(z, self._rowmax, out=g)
        picked = g[self._rows, y]  # shifted logit of the true class (a copy)
        np.exp(g, out=g)
        np.sum(g, axis=1, keepdims=True, out=self._rowsum)
        loss = float(np.mean(np.log(self._rowsum[:, 0]) - picked))
        self._rowsum *= B
        g /= self._rowsum
        g[self._rows, y] -= 1.0 / B
        for i in range(len(self.W) - 1, -1, -1):
            prev = self.acts[i - 1] if i > 0 else self._x
            np.matmul(prev.T, g, out=self.gW[i])
            np.sum(g, axis=0, out=self.gb[i])
            if i > 0:
                gp = self.dacts[i - 1]
                np.matmul(g, self.W[i].T, out=gp)
                gp *= prev > 0  # ReLU: the saved output is positive where the input was
                g = gp
        return loss

    def adam_step(self) -> None:
        """One Adam update of all parameters at once (flat buffers, in place).

        m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)   (torch.optim.Adam)
        """
        self.step_count += 1
        t, g, m, v, tmp = self.step_count, self.grads, self.exp_avg, self.exp_avg_sq, self._tmp
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / np.sqrt(1.0 - self.beta2**t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1.0 - self.beta1**t)
        self.params -= tmp

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, backward and one Adam step on a batch; returns the batch loss."""
        self.forward(x)
        loss = self.loss_and_backward(y)
        self.adam_step()
        return loss

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.forward(X), axis=1) == y))


def train_epoch(
    model: NumpyMLP, X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator,
    step_times: list[float] | None = None,
) -> float:
    """One shuffled epoch (the last short batch kept); returns the mean batch loss."""
    order = rng.permutation(X.shape[0])
    losses = []
    for start in range(0, X.shape[0], batch_size):
        idx = order[start : start + batch_size]
        xb, yb = X[idx], y[idx]
        t0 = time.perf_counter()
        losses.append(model.train_step(xb, yb))
        if step_times is not None:
            step_times.append(time.perf_counter() - t0)
    return float(np.mean(losses))


def time_training(
    X: np.ndarray,
    y: np.ndarray,
    sizes: tuple[int, ...],
    batch_size: int,
    epochs: int = 10,
    warmup_epochs: int = 1,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Trains a fresh ``NumpyMLP`` and times it.

    Returns:
        ``step_ms`` (median over all timed steps of forward + backward + Adam, excluding
        batch gathering), ``epoch_ms`` (median over timed epochs of the whole epoch:
        shuffling, gathering and steps), ``first_loss`` / ``last_loss`` (mean loss of the
        first warm-up epoch and of the last epoch) and ``train_acc`` afterwards.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    model = NumpyMLP(sizes, lr=lr, seed=seed)
    rng = np.random.default_rng(seed)
    first_loss = last_loss = float("nan")
    for e in range(warmup_epochs):
        loss = train_epoch(model, X, y, batch_size, rng)
        first_loss = loss if e == 0 else first_loss
    step_times: list[float] = []
    epoch_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        last_loss = train_epoch(model, X, y, batch_size, rng, step_times)
        epoch_times.append(time.perf_counter() - t0)
    return {
        "step_ms": 1e3 * float(np.median(step_times)),
        "epoch_ms": 1e3 * float(np.median(epoch_times)),
        "first_loss": first_loss,
        "last_loss": last_loss,
        "train_acc": model.accuracy(X, y),
    }


def _self_check(X: np.ndarray, y: np.ndarray, sizes: tuple[int, ...]) -> None:
    """Gradient check of one backward against central differences, and a loss that falls."""
    model = NumpyMLP(sizes, seed=1)
    xb, yb = X[:8], y[:8]
    model.forward(xb)
    model.loss_and_backward(yb)
    analytic = model.grads.copy()
    probe = np.random.default_rng(0).choice(model.params.size, size=20, replace=False)
    h = 1e-2  # float32 data: a large step, loose tolerance
    for k in probe:
        old = model.params[k]
        model.params[k] = old + h
        up = (model.forward(xb), model.loss_and_backward(yb))[1]
        model.params[k] = old - h
        down = (model.forward(xb), model.loss_and_backward(yb))[1]
        model.params[k] = old
        numeric = (up - down) / (2 * h)
        assert abs(numeric - analytic[k]) <= 2e-3 + 5e-2 * abs(numeric), (k, numeric, analytic[k])
    res = time_training(X, y, sizes, batch_size=32, epochs=2, warmup_epochs=1)
    assert res["last_loss"] < 0.5 * res["first_loss"], res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="128,128")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    parser.add_argument("--no-check", action="store_true", help="skip the self-check")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)  # scaled to [0, 1]
    sizes = (X.shape[1], *(int(h) for h in args.hidden.split(",") if h), 10)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # then BLAS uses its default thread count
        limits = None
    else:
        limits = threadpool_limits(limits=args.threads, user_api="blas")
    if not args.no_check:
        _self_check(X, y, sizes)
        print("self-check passed (gradients vs central differences; loss decreases)")
    res = time_training(X, y, sizes, args.batch_size, epochs=args.epochs)
    print(
        f"numpy MLP {'-'.join(map(str, sizes))} digits batch {args.batch_size} "
        f"({args.threads if limits is not None else 'default'} BLAS threads): "
        f"step {res['step_ms']:.3f} ms, epoch {res['epoch_ms']:.2f} ms, "
        f"loss {res['first_loss']:.3f} -> {res['last_loss']:.3f}, train acc {res['train_acc']:.3f}"
    )


if __name__ == "__main__":
    # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE force slow OpenBLAS kernels (BENCHMARKING.md):
    # drop them for this process only, re-executing so NumPy starts without them.
    if any(k in os.environ for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
        for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            os.environ.pop(k, None)
        print("note: removed OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for this benchmark", flush=True)
        os.execv(sys.executable, [sys.executable, *sys.argv])
    main()
