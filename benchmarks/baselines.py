"""Baselines: the pipeline of docs/MODEL.md for ONE configuration, as such a simulation
is written today (dense ``d``, vectorised tensor operations, a Python loop over GD
steps): train the weak linear CNN on ``n_weak`` samples with their true labels,
pseudo-label ``n`` fresh samples ``sign(f)``, train the strong ReLU CNN (``2m`` filters,
second layer ``±1/m``) on them, score both against the true labels of ``n_test``
samples (the strong one at each step of ``eval_steps``, 0 = at init).

``run_numpy(cfg, seed)`` (float64, hand-written gradients) and ``run_torch(cfg, seed)``
(float32 on the CPU, autograd) draw the same samples and initial filters with NumPy
(:func:`samples`) and return ``{"test_error": [...], "weak_test_error": float}``; ``cfg``
is ``common.baseline_config`` of a configuration.
"""

from __future__ import annotations

import numpy as np

EASY, HARD = 0, 1  # kinds; 2 = both


def samples(rng: np.random.Generator, cfg: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` dense samples, ``X (n, 3, d)`` float64 (``mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1}`` on
    ``e1..e4``, noise ``N(0, sigma_p^2)`` off them) and labels ``y (n,)`` in {+1, -1}."""
    y = rng.choice(np.array([1.0, -1.0]), size=n)
    p_easy, p_hard = cfg["p_easy"], cfg["p_hard"]
    kind = rng.choice(3, size=n, p=[p_easy, p_hard, 1.0 - p_easy - p_hard])
    eps = rng.choice(np.array([1.0, -1.0]), size=n)
    paired = cfg.get("hard_sign", "random") == "paired"
    X = np.zeros((n, 3, cfg["d"]))
    X[:, 2, 4:] = cfg["sigma_p"] * rng.standard_normal((n, cfg["d"] - 4))
    mu_idx, nu_idx = np.where(y > 0, 0, 1), np.where(y > 0, 2, 3)
    mu, nu = cfg["mu_norm"], cfg["nu_norm"]
    # patch 1: mu_y for easy and both, eps nu_y (paired: +nu_y) for hard; patch 2: mu_y
    # for easy, eps nu_y for hard and both (paired: -nu_y for hard, +nu_y for both)
    X[np.arange(n), 0, np.where(kind == HARD, nu_idx, mu_idx)] = np.where(
        kind == HARD, (1.0 if paired else eps) * nu, mu
    )
    x2_sign = np.where(kind == HARD, -1.0, 1.0) if paired else eps
    X[np.arange(n), 1, np.where(kind == EASY, mu_idx, nu_idx)] = np.where(
        kind == EASY, mu, x2_sign * nu
    )
    return X, y


def _draws(cfg: dict, seed: int):
    """Weak, pseudo-labelled and test samples, then the strong model's initial filters,
    in this order from one generator, and the evaluation steps (each in ``0..steps``)."""
    rng = np.random.default_rng(seed)
    evals = {int(s) for s in cfg["eval_steps"]}
    if any(not 0 <= s <= cfg["steps"] for s in evals):
        raise ValueError(f"eval_steps {sorted(evals)} outside 0..steps={cfg['steps']}")
    yield samples(rng, cfg, cfg["n_weak"])
    yield samples(rng, cfg, cfg["n"])
    yield samples(rng, cfg, cfg["n_test"])
    yield cfg["sigma_0"] * rng.standard_normal((2 * cfg["m"], cfg["d"])), evals


def _sign(f):
    return np.where(f >= 0, 1.0, -1.0)


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _strong_np(W, a, X2, n):  # f (n,) of the ReLU CNN and the pre-activations Z (n*3, 2m)
    Z = X2 @ W.T
    return np.maximum(Z, 0.0).reshape(n, 3, -1).sum(axis=1) @ a, Z


def run_numpy(cfg: dict, seed: int) -> dict:
    """The full pipeline for one configuration in NumPy float64 (module docstring)."""
    draws, m = _draws(cfg, seed), cfg["m"]
    Xw, yw = next(draws)
    Sw = Xw.sum(axis=1)  # the weak CNN is linear: f = (x1 + x2 + x3) @ w
    del Xw
    w = np.zeros(cfg["d"])
    for _ in range(cfg["weak_steps"]):
        g = -yw * _sigmoid(-yw * (Sw @ w)) / len(yw)  # d loss / d f
        w -= cfg["weak_lr"] * (g @ Sw)
    X, _ = next(draws)
    n, y_hat = len(X), _sign(X.sum(axis=1) @ w)
    X2 = X.reshape(n * 3, -1)
    Xt, yt = next(draws)
    Xt2, weak = Xt.reshape(-1, cfg["d"]), float(np.mean(_sign(Xt.sum(axis=1) @ w) != yt))
    W, evals = next(draws)
    a = np.concatenate([np.full(m, 1.0 / m), np.full(m, -1.0 / m)])
    errors = {}
    for t in range(cfg["steps"] + 1):
        if t in evals:
            errors[t] = float(np.mean(_sign(_strong_np(W, a, Xt2, len(yt))[0]) != yt))
        if t == cfg["steps"]:
            break
        f, Z = _strong_np(W, a, X2, n)
        g = -y_hat * _sigmoid(-y_hat * f) / n
        W -= cfg["lr"] * ((np.repeat(g, 3)[:, None] * (Z > 0) * a).T @ X2)
    return {"test_error": [errors[int(s)] for s in cfg["eval_steps"]], "weak_test_error": weak}


def run_torch(cfg: dict, seed: int) -> dict:
    """The full pipeline for one configuration in PyTorch float32 on the CPU, autograd."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("baselines.run_torch needs PyTorch (pip install torch)") from exc

    draws, m = _draws(cfg, seed), cfg["m"]
    tensors = lambda arrays: [torch.from_numpy(np.asarray(x)).float() for x in arrays]
    sign = lambda f: torch.where(f >= 0, 1.0, -1.0)
    Xw, yw = tensors(next(draws))
    w = torch.zeros(cfg["d"], requires_grad=True)
    for _ in range(cfg["weak_steps"]):
        F.softplus(-yw * (Xw @ w).sum(dim=1)).mean().backward()
        with torch.no_grad():
            w -= cfg["weak_lr"] * w.grad
            w.grad.zero_()
    del Xw
    with torch.no_grad():
        X, _ = tensors(next(draws))
        y_hat = sign((X @ w).sum(dim=1))
        Xt, yt = tensors(next(draws))
        weak = (sign((Xt @ w).sum(dim=1)) != yt).float().mean().item()
    W0, evals = next(draws)
    (W,) = tensors([W0])
    W.requires_grad_(True)
    a = torch.cat([torch.full((m,), 1.0 / m), torch.full((m,), -1.0 / m)])
    strong = lambda X: torch.relu(X @ W.T).sum(dim=1) @ a  # (n, 3, 2m) -> (n,)
    errors = {}
    for t in range(cfg["steps"] + 1):
        if t in evals:
            with torch.no_grad():
                errors[t] = (sign(strong(Xt)) != yt).float().mean().item()
        if t == cfg["steps"]:
            break
        F.softplus(-y_hat * strong(X)).mean().backward()
        with torch.no_grad():
            W -= cfg["lr"] * W.grad
            W.grad.zero_()
    return {"test_error": [errors[int(s)] for s in cfg["eval_steps"]], "weak_test_error": weak}
