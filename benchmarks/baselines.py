"""Baselines for the throughput benchmark: how such a simulation is written today.

ONE configuration per call, the whole weak-to-strong pipeline of docs/MODEL.md in dense
``d`` dimensions, written plainly but competently: vectorised tensor operations, no
per-sample Python loops, a Python loop over gradient-descent steps.

1. Draw ``n_weak`` samples (docs/MODEL.md, ``hard_sign = "random"``), train the weak linear
   CNN ``f_wk(w, X) = sum_p <w, x_p>`` (``w = 0`` at start) by full-batch GD on the mean
   logistic loss with the true labels (``weak_lr``, ``weak_steps``).
2. Draw ``n`` fresh samples and pseudo-label them ``sign(f_wk)`` (``sign(0) = +1``).
3. Train the strong two-layer ReLU CNN (``2m`` filters, ``N(0, sigma_0^2 I_d)`` init,
   second layer ``+1/m`` for the first ``m`` filters, ``-1/m`` for the others, fixed)
   by full-batch GD on the pseudo-labels (``lr``, ``steps``).
4. Score both against the TRUE labels of ``n_test`` fresh samples; the strong model at
   each step in ``eval_steps`` (step ``t`` = after ``t`` GD updates, ``0`` = at init).

Two implementations with one signature, ``run_numpy(cfg, seed)`` (float64, hand-written
gradients) and ``run_torch(cfg, seed)`` (float32 on the CPU, ``torch.autograd``,
default thread settings). Both return
``{"test_error": [error at each eval step], "weak_test_error": float}``.

cfg keys: ``d, mu_norm, nu_norm, sigma_p, p_easy, p_hard, n_weak, weak_lr, weak_steps,
n, m, sigma_0, lr, steps, n_test, eval_steps`` (list of ints); optional ``hard_sign``
(``"random"``, the default, or ``"paired"``).

Samples are stored densely, ``X`` of shape ``(n, 3, d)``: the signal vectors are
``mu_{+1} = mu_norm e1, mu_{-1} = mu_norm e2, nu_{+1} = nu_norm e3,
nu_{-1} = nu_norm e4`` and the noise patch is ``N(0, sigma_p^2)`` off ``e1..e4``.
"""

from __future__ import annotations

import numpy as np

EASY, HARD, BOTH = 0, 1, 2


def _eval_steps(cfg: dict) -> set[int]:
    """The evaluation steps as a set; each must lie in ``0..steps``."""
    steps = {int(s) for s in cfg["eval_steps"]}
    bad = sorted(s for s in steps if not 0 <= s <= cfg["steps"])
    if bad:
        raise ValueError(f"eval_steps {bad} outside 0..steps={cfg['steps']}")
    return steps


# ----------------------------------------------------------------------------- NumPy


def _numpy_samples(rng: np.random.Generator, cfg: dict, n: int):
    """``n`` dense samples: ``X (n, 3, d)`` float64 and labels ``y (n,)`` in {+1, -1}."""
    d = cfg["d"]
    p_easy, p_hard = cfg["p_easy"], cfg["p_hard"]
    y = rng.choice(np.array([1.0, -1.0]), size=n)
    kind = rng.choice(3, size=n, p=[p_easy, p_hard, 1.0 - p_easy - p_hard])
    eps = rng.choice(np.array([1.0, -1.0]), size=n)
    paired = cfg.get("hard_sign", "random") == "paired"

    X = np.zeros((n, 3, d))
    X[:, 2, 4:] = cfg["sigma_p"] * rng.standard_normal((n, d - 4))
    rows = np.arange(n)
    mu_idx = np.where(y > 0, 0, 1)  # mu_{+1} = e1, mu_{-1} = e2
    nu_idx = np.where(y > 0, 2, 3)  # nu_{+1} = e3, nu_{-1} = e4
    mu, nu = cfg["mu_norm"], cfg["nu_norm"]
    # patch 1: mu_y for easy and both, eps nu_y (paired: +nu_y) for hard
    x1_idx = np.where(kind == HARD, nu_idx, mu_idx)
    x1_val = np.where(kind == HARD, (1.0 if paired else eps) * nu, mu)
    # patch 2: mu_y for easy, eps nu_y for hard and both (paired: -nu_y, +nu_y)
    x2_idx = np.where(kind == EASY, mu_idx, nu_idx)
    if paired:
        x2_sign = np.where(kind == HARD, -1.0, 1.0)
    else:
        x2_sign = eps
    x2_val = np.where(kind == EASY, mu, x2_sign * nu)
    X[rows, 0, x1_idx] = x1_val
    X[rows, 1, x2_idx] = x2_val
    return X, y


def _sigmoid(t):
    """Numerically stable logistic sigmoid."""
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _strong_outputs_np(W, a, X2, n):
    """``f (n,)`` of the ReLU CNN and the pre-activations ``Z (n*3, 2m)``."""
    Z = X2 @ W.T
    return np.maximum(Z, 0.0).reshape(n, 3, -1).sum(axis=1) @ a, Z


def _sign(f):
    return np.where(f >= 0, 1.0, -1.0)


def run_numpy(cfg: dict, seed: int) -> dict:
    """The full pipeline for one configuration in NumPy float64 (see module docstring)."""
    rng = np.random.default_rng(seed)
    d, m = cfg["d"], cfg["m"]

    # 1. weak linear CNN on true labels: f = (x1 + x2 + x3) @ w
    Xw, yw = _numpy_samples(rng, cfg, cfg["n_weak"])
    Sw = Xw.sum(axis=1)  # (n_weak, d)
    del Xw
    w = np.zeros(d)
    for _ in range(cfg["weak_steps"]):
        f = Sw @ w
        g = -yw * _sigmoid(-yw * f) / len(yw)  # d loss / d f
        w -= cfg["weak_lr"] * (g @ Sw)

    # 2. pseudo-labels on fresh samples
    X, _y_true = _numpy_samples(rng, cfg, cfg["n"])
    n = X.shape[0]
    y_hat = _sign(X.sum(axis=1) @ w)
    X2 = X.reshape(n * 3, d)

    # test set, scored against the true labels
    Xt, yt = _numpy_samples(rng, cfg, cfg["n_test"])
    Xt2 = Xt.reshape(-1, d)
    weak_err = float(np.mean(_sign(Xt.sum(axis=1) @ w) != yt))

    # 3. strong ReLU CNN on pseudo-labels
    W = cfg["sigma_0"] * rng.standard_normal((2 * m, d))
    a = np.concatenate([np.full(m, 1.0 / m), np.full(m, -1.0 / m)])
    eval_steps = _eval_steps(cfg)
    errors = {}
    lr = cfg["lr"]
    for t in range(cfg["steps"] + 1):
        if t in eval_steps:
            ft, _ = _strong_outputs_np(W, a, Xt2, len(yt))
            errors[t] = float(np.mean(_sign(ft) != yt))
        if t == cfg["steps"]:
            break
        f, Z = _strong_outputs_np(W, a, X2, n)
        g = -y_hat * _sigmoid(-y_hat * f) / n  # (n,)
        coef = np.repeat(g, 3)[:, None] * (Z > 0) * a[None, :]  # (n*3, 2m)
        W -= lr * (coef.T @ X2)
    return {
        "test_error": [errors[int(s)] for s in cfg["eval_steps"]],
        "weak_test_error": weak_err,
    }


# ----------------------------------------------------------------------------- torch


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "benchmarks.baselines.run_torch needs PyTorch, which is not installed; "
            "install a CPU build (e.g. `pip install torch`) or use run_numpy."
        ) from exc
    return torch


def _torch_samples(torch, gen, cfg: dict, n: int):
    """``n`` dense samples: ``X (n, 3, d)`` float32 and labels ``y (n,)`` in {+1, -1}."""
    d = cfg["d"]
    p_easy, p_hard = cfg["p_easy"], cfg["p_hard"]
    pm = torch.tensor([1.0, -1.0])
    y = pm[torch.randint(0, 2, (n,), generator=gen)]
    probs = torch.tensor([p_easy, p_hard, 1.0 - p_easy - p_hard], dtype=torch.float64)
    kind = torch.multinomial(probs, n, replacement=True, generator=gen)
    eps = pm[torch.randint(0, 2, (n,), generator=gen)]
    paired = cfg.get("hard_sign", "random") == "paired"

    X = torch.zeros(n, 3, d)
    X[:, 2, 4:] = cfg["sigma_p"] * torch.randn(n, d - 4, generator=gen)
    rows = torch.arange(n)
    mu_idx = torch.where(y > 0, 0, 1)
    nu_idx = torch.where(y > 0, 2, 3)
    mu = torch.full((n,), float(cfg["mu_norm"]))
    nu = torch.full((n,), float(cfg["nu_norm"]))
    hard, easy = kind == HARD, kind == EASY
    x1_idx = torch.where(hard, nu_idx, mu_idx)
    x1_val = torch.where(hard, (torch.ones(n) if paired else eps) * nu, mu)
    x2_idx = torch.where(easy, mu_idx, nu_idx)
    x2_sign = torch.where(hard, -1.0, 1.0) if paired else eps
    x2_val = torch.where(easy, mu, x2_sign * nu)
    X[rows, 0, x1_idx] = x1_val
    X[rows, 1, x2_idx] = x2_val
    return X, y


def run_torch(cfg: dict, seed: int) -> dict:
    """The full pipeline for one configuration in PyTorch float32 on the CPU, autograd."""
    torch = _import_torch()
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    d, m = cfg["d"], cfg["m"]

    def sign(f):
        return torch.where(f >= 0, 1.0, -1.0)

    # 1. weak linear CNN on true labels
    Xw, yw = _torch_samples(torch, gen, cfg, cfg["n_weak"])
    w = torch.zeros(d, requires_grad=True)
    for _ in range(cfg["weak_steps"]):
        f = (Xw @ w).sum(dim=1)
        loss = F.softplus(-yw * f).mean()
        loss.backward()
        with torch.no_grad():
            w -= cfg["weak_lr"] * w.grad
            w.grad.zero_()
    del Xw

    with torch.no_grad():
        # 2. pseudo-labels on fresh samples
        X, _y_true = _torch_samples(torch, gen, cfg, cfg["n"])
        y_hat = sign((X @ w).sum(dim=1))
        # test set, scored against the true labels
        Xt, yt = _torch_samples(torch, gen, cfg, cfg["n_test"])
        weak_err = (sign((Xt @ w).sum(dim=1)) != yt).float().mean().item()

    # 3. strong ReLU CNN on pseudo-labels
    W = (cfg["sigma_0"] * torch.randn(2 * m, d, generator=gen)).requires_grad_(True)
    a = torch.cat([torch.full((m,), 1.0 / m), torch.full((m,), -1.0 / m)])

    def strong(W, X):
        return torch.relu(X @ W.T).sum(dim=1) @ a  # (n, 3, 2m) -> (n,)

    eval_steps = _eval_steps(cfg)
    errors = {}
    lr = cfg["lr"]
    for t in range(cfg["steps"] + 1):
        if t in eval_steps:
            with torch.no_grad():
                errors[t] = (sign(strong(W, Xt)) != yt).float().mean().item()
        if t == cfg["steps"]:
            break
        loss = F.softplus(-y_hat * strong(W, X)).mean()
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            W.grad.zero_()
    return {
        "test_error": [errors[int(s)] for s in cfg["eval_steps"]],
        "weak_test_error": float(weak_err),
    }


# ----------------------------------------------------------------------------- demo

SANITY_CFG = {
    "d": 2000,
    "mu_norm": 8.0,
    "nu_norm": 5.0,
    "sigma_p": 1.0,
    "p_easy": 0.35,
    "p_hard": 0.30,
    "n_weak": 500,
    "weak_lr": 0.2,
    "weak_steps": 200,
    "n": 500,
    "m": 20,
    "sigma_0": 0.01,
    "lr": 1.0,
    "steps": 300,
    "n_test": 2000,
    "eval_steps": [0, 1, 3, 10, 30, 100, 300],
}


if __name__ == "__main__":
    import time

    for name, fn in (("numpy", run_numpy), ("torch", run_torch)):
        for seed in (0, 1):
            t0 = time.perf_counter()
            out = fn(SANITY_CFG, seed)
            dt = time.perf_counter() - t0
            errs = ", ".join(f"{e:.3f}" for e in out["test_error"])
            print(
                f"{name} seed={seed} {dt:6.2f}s weak={out['weak_test_error']:.3f} strong=[{errs}]"
            )
