"""End to end: a small MLP with BatchNorm and Dropout trains on the 8x8 digits to > 95% test
accuracy (fused Linear, BatchNorm, dropout and cross-entropy kernels, Adam)."""

from __future__ import annotations

import numpy as np

import fusegrad as fg
import fusegrad.nn as nn
from fusegrad.data import load_digits
from fusegrad.optim import Adam


def test_mlp_with_batchnorm_and_dropout_learns_digits():
    fg.manual_seed(0)
    X, y = load_digits()
    X = (X / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, te = idx[:1400], idx[1400:]
    model = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(128, 10))
    loss_fn = nn.CrossEntropyLoss()
    opt = Adam(model.parameters(), lr=3e-3)
    for _ in range(12):
        perm = rng.permutation(tr)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            if len(b) < 2:
                continue
            loss = loss_fn(model(fg.tensor(X[b])), fg.tensor(y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with fg.no_grad():
        pred = model(fg.tensor(X[te])).numpy().argmax(1)
    acc = (pred == y[te]).mean()
    assert acc > 0.95, f"test accuracy {acc:.3f}"
