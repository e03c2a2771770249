"""A plain NumPy (float64) reference for the CNNs of docs/MODEL.md and their full-batch GD.

Independent of the ``w2s_jax`` package: no JAX, no autodiff, gradients written by hand.
It uses the project's coordinates:

* A filter is split into ``signal`` (4 coefficients on ``mu_{+1}, mu_{-1}, nu_{+1},
  nu_{-1}``, i.e. on the unit vectors ``e1..e4``) and ``noise`` (``D`` coefficients).
  ``F`` filters are stored as ``signal (F, 4)`` and ``noise (F, D)``.
* A sample ``i`` has two signal patches given as a ``(2, 4)`` coefficient array
  ``S[i]`` (already multiplied by the norms) and a noise patch ``xi[i]`` in ``R^D``, so
  ``<w, x_p> = S[i, p] @ w_signal`` for ``p = 0, 1`` and ``<w, x_2> = xi[i] @ w_noise``.

The network is ``f(X) = sum_r a_r sum_p act(<w_r, x_p>)`` with a fixed second layer
``a`` (``second_layer``). The weak linear CNN is ``F = 1``, ``a = [1]``,
``relu=False``; the strong ReLU CNN has ``2m`` filters with ``a_r = +1/m`` for
``r < m`` and ``a_r = -1/m`` for ``r >= m``, ``relu=True``. ``ReLU'(0) = 0``.
"""

from __future__ import annotations

import numpy as np


def _preactivations(signal, noise, S, xi):
    """Inner products ``z[i, r, p] = <w_r, x_{i,p}>``, shape ``(n, F, 3)``."""
    z_signal = np.einsum("npk,fk->nfp", S, signal)  # (n, F, 2)
    z_noise = xi @ noise.T  # (n, F)
    return np.concatenate([z_signal, z_noise[:, :, None]], axis=2)


def cnn_outputs(signal, noise, second_layer, S, xi, relu: bool):
    """Network outputs ``f(X_i)`` for every sample, shape ``(n,)``.

    Args:
        signal: ``(F, 4)`` signal coefficients of the filters.
        noise: ``(F, D)`` noise coefficients of the filters.
        second_layer: ``(F,)`` fixed second-layer weights ``a_r``.
        S: ``(n, 2, 4)`` signal-patch coefficients (already scaled by the norms).
        xi: ``(n, D)`` noise patches.
        relu: ``True`` for ReLU activations, ``False`` for the identity (linear CNN).
    """
    z = _preactivations(
        np.asarray(signal, np.float64),
        np.asarray(noise, np.float64),
        np.asarray(S, np.float64),
        np.asarray(xi, np.float64),
    )
    act = np.maximum(z, 0.0) if relu else z
    return act.sum(axis=2) @ np.asarray(second_layer, np.float64)


def logistic_loss(outputs, labels, mask):
    """Mean over ``mask`` of ``log(1 + exp(-y f))``, computed stably (``logaddexp``)."""
    margins = np.asarray(labels, np.float64) * outputs
    mask = np.asarray(mask, bool)
    return float(np.mean(np.logaddexp(0.0, -margins[mask])))


def loss(signal, noise, second_layer, S, xi, labels, mask, relu: bool):
    """The training objective: mean logistic loss over the points with ``mask`` True."""
    return logistic_loss(cnn_outputs(signal, noise, second_layer, S, xi, relu), labels, mask)


def _sigmoid(t):
    """Numerically stable logistic sigmoid ``1 / (1 + exp(-t))``."""
    out = np.empty_like(t)
    pos = t >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-t[pos]))
    e = np.exp(t[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def loss_gradient(signal, noise, second_layer, S, xi, labels, mask, relu: bool):
    """Hand-written gradient of :func:`loss` w.r.t. ``(signal, noise)``.

    With ``g_i = d loss / d f_i = -(mask_i / N) y_i sigmoid(-y_i f_i)`` (``N`` the
    number of masked-in points) and ``act'`` the activation's derivative
    (``1[z > 0]`` for ReLU, ``1`` for the identity):

    * ``d/d signal_r = a_r sum_i g_i sum_{p=0,1} act'(z_{i,r,p}) S[i, p]``
    * ``d/d noise_r  = a_r sum_i g_i act'(z_{i,r,2}) xi[i]``

    Returns ``(grad_signal (F, 4), grad_noise (F, D))``.
    """
    signal = np.asarray(signal, np.float64)
    noise = np.asarray(noise, np.float64)
    a = np.asarray(second_layer, np.float64)
    S = np.asarray(S, np.float64)
    xi = np.asarray(xi, np.float64)
    y = np.asarray(labels, np.float64)
    mask = np.asarray(mask, bool)

    z = _preactivations(signal, noise, S, xi)  # (n, F, 3)
    if relu:
        act, dact = np.maximum(z, 0.0), (z > 0).astype(np.float64)
    else:
        act, dact = z, np.ones_like(z)
    f = act.sum(axis=2) @ a  # (n,)

    g = np.where(mask, -y * _sigmoid(-y * f), 0.0) / mask.sum()  # (n,)
    coef = g[:, None, None] * a[None, :, None] * dact  # (n, F, 3)
    grad_signal = np.einsum("nfp,npk->fk", coef[:, :, :2], S)
    grad_noise = coef[:, :, 2].T @ xi
    return grad_signal, grad_noise


def gd_trajectory(signal0, noise0, second_layer, S, xi, labels, mask, lr, steps, relu):
    """Full-batch gradient descent ``W <- W - lr * grad`` on :func:`loss`.

    Args:
        signal0, noise0: initial filters, ``(F, 4)`` and ``(F, D)``.
        second_layer: ``(F,)`` fixed second-layer weights.
        S, xi: training samples, ``(n, 2, 4)`` and ``(n, D)``.
        labels: ``(n,)`` labels in {+1, -1} (true or pseudo-labels).
        mask: ``(n,)`` bool; the loss is the mean over the points with ``mask`` True
            (the others, e.g. padding, have no influence).
        lr: step size.
        steps: number of GD steps.
        relu: ReLU (strong CNN) or identity (weak linear CNN) activation.

    Returns:
        A list of ``steps + 1`` pairs ``(signal, noise)`` (float64 copies): index 0 is the
        initial point, index ``t`` the filters after ``t`` steps.
    """
    signal = np.array(signal0, np.float64)
    noise = np.array(noise0, np.float64)
    trajectory = [(signal.copy(), noise.copy())]
    for _ in range(steps):
        gs, gn = loss_gradient(signal, noise, second_layer, S, xi, labels, mask, relu)
        signal = signal - lr * gs
        noise = noise - lr * gn
        trajectory.append((signal.copy(), noise.copy()))
    return trajectory
