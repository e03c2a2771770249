"""The weak-to-strong pipeline (docs/MODEL.md, "Training") for ONE configuration and ONE seed.

1. :func:`train_teacher`: the weak model on ``n_weak`` samples with true labels.
2. :func:`run_student`: ``n`` fresh samples pseudo-labelled by the teacher; the strong
   CNN trained on them (and, optionally, the ceiling: the same student on true labels),
   with the metrics of docs/MODEL.md, "What is recorded", at the evaluation steps.

``key`` is the configuration's randomness key (its teacher identity, see
``docs/DESIGN.md``); every draw below comes from ``fold_in(key, STREAM)`` so that
configurations differing only on the strong side share data, init and test set.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from w2s_jax.simulation import backends, images, registry
from w2s_jax.simulation.config import Params, Static
from w2s_jax.simulation.cost_model import use_dual_form
from w2s_jax.simulation.data import BOTH, EASY, HARD, Samples, draw_labels, signal_patches
from w2s_jax.simulation.metrics import (
    Batch,
    errors_by_kind,
    nan_after_divergence,
    test_curves,
    training_curves,
)
from w2s_jax.simulation.models import (
    Filters,
    cnn_output,
    cnn_output_from_noise,
    sign,
    strong_second_layer,
)
from w2s_jax.simulation.training import masked_mean, mean_loss, train, train_in_span

# Independent random streams of a configuration.
WEAK_LABELS, WEAK_NOISE, STRONG_NOISE, STRONG_LABELS, TEST_LABELS, STRONG_INIT, WEAK_INIT = range(7)
WEAK_IMAGES, STRONG_IMAGES, TEST_IMAGES = 7, 8, 9  # which image each sample shows

CURVES = (
    "test_error", "test_error_easy", "test_error_hard", "test_error_both",
    "train_loss", "train_acc_pseudo", "train_acc_true", "label_correction",
    "grad_weight_clean", "grad_weight_flipped",
    "signal_mu", "signal_nu", "signal_neg_nu", "noise_clean", "noise_flipped",
)  # fmt: skip


def _stream(key: PRNGKeyArray, stream: int) -> PRNGKeyArray:
    return jax.random.fold_in(key, stream)


def _dtype(static: Static):
    return jnp.dtype(static.dtype)


def _gaussian_filters(key, num, dim, scale, dtype, signal_dim=4) -> Filters:
    k_signal, k_noise = jax.random.split(key)
    return Filters(
        signal=scale * jax.random.normal(k_signal, (num, signal_dim), dtype),
        noise=scale * backends.gaussian_rows(k_noise, num, dim, dtype),
    )


def weak_architecture(static: Static) -> tuple[jnp.ndarray, Callable]:
    """Second layer and activation of the weak model."""
    dtype = _dtype(static)
    if static.weak_model == "linear":
        return jnp.ones(1, dtype), lambda z: z
    return strong_second_layer(static.weak_m, dtype), jax.nn.relu


def _activation(static: Static, params: Params) -> Callable:
    entry = registry.activation(static.activation)
    value = params.strong.activation_param
    value = jnp.where(jnp.isnan(value), entry.default_param, value)
    return lambda z: entry.fn(z, value)


def _patches(static: Static, params: Params, samples: Samples, key, bank, test=False):
    """The samples' two signal patches: coefficients on the four synthetic signals
    ``(n, 2, 4)``, or ``(n, 2, P)`` pixels of images drawn from ``bank`` with ``key``."""
    data = params.data
    if bank is None:
        return signal_patches(samples, data.mu_norm, data.nu_norm, static.hard_sign)
    pool, counts = (bank.test, bank.test_count) if test else (bank.train, bank.train_count)
    return images.image_patches(
        key, samples, pool, counts, data.mu_norm, data.nu_norm, static.hard_sign
    )


def _signal_dim(bank: images.ImageBank | None) -> int:
    return 4 if bank is None else bank.train.shape[-1]


def train_teacher(
    static: Static, params: Params, key: PRNGKeyArray, bank: images.ImageBank | None = None
) -> Filters:
    """The weak model after ``weak.steps`` of GD on true labels (weak coordinates).
    ``bank``: the images of an image source (None: the synthetic signals)."""
    dtype, data = _dtype(static), params.data
    signal_dim = _signal_dim(bank)
    y, kind, eps = draw_labels(_stream(key, WEAK_LABELS), static.weak_n, data.p_easy, data.p_hard)
    xi = backends.weak_noise(
        _stream(key, WEAK_NOISE),
        static.backend,
        static.d,
        static.weak_n,
        data.d,
        data.sigma_p,
        dtype,
        signal_dim,
    )
    samples = Samples(y, kind, eps, xi)
    patches = _patches(static, params, samples, _stream(key, WEAK_IMAGES), bank)
    second_layer, activation = weak_architecture(static)
    dim = xi.shape[1]
    if static.weak_model == "linear":
        filters = Filters(jnp.zeros((1, signal_dim), dtype), jnp.zeros((1, dim), dtype))
    else:
        filters = _gaussian_filters(
            _stream(key, WEAK_INIT), 2 * static.weak_m, dim, params.weak.sigma_0, dtype, signal_dim
        )
    labels = y.astype(dtype)
    mask = jnp.ones_like(labels, dtype=bool)
    loss = registry.loss(static.weak_loss)

    def objective(f: Filters) -> Float[Array, ""]:
        return mean_loss(loss, cnn_output(f, second_layer, activation, patches, xi), labels, mask)

    optimizer = registry.optimizer(static.weak_optimizer)(params.weak.lr, 0.9)
    final, _ = train(filters, objective, optimizer, params.weak.steps[None], params.weak.stop_loss)
    return final.filters


def run_student(
    static: Static,
    params: Params,
    key: PRNGKeyArray,
    teacher: Filters,
    bank: images.ImageBank | None = None,
) -> tuple[dict, dict]:
    """Pseudo-label, train the student, evaluate. Returns ``(curves, scalars)``.

    ``curves``: every name in :data:`CURVES` with shape ``(E,)``, plus
    ``ceiling_test_error`` when ``static.ceiling`` and one curve per user metric
    ``(name, fn)`` in ``static.metrics``, ``fn(filters, train: Batch, test: Batch) ->
    scalar``; ``scalars``: weak test errors, flip rate, and ``diverged``. ``bank``: the
    images of an image source (None: the synthetic signals).
    """
    dtype, data, strong = _dtype(static), params.data, params.strong
    signal_dim = _signal_dim(bank)
    m, n_pad = static.m, static.n_pad
    # Strong-phase coordinates; the teacher's noise part is carried into them.
    carried = teacher.noise if static.backend == "dense" else teacher.noise[0]
    noise = backends.strong_noise(
        _stream(key, STRONG_NOISE),
        static.backend,
        static.d,
        m,
        n_pad,
        static.n_test,
        carried,
        data.d,
        data.sigma_p,
        strong.sigma_0,
        dtype,
        signal_dim,
    )
    teacher_noise = noise.teacher_noise.reshape(-1, noise.train_xi.shape[1])
    teacher = Filters(teacher.signal, teacher_noise)
    train_set = Samples(
        *draw_labels(_stream(key, STRONG_LABELS), n_pad, data.p_easy, data.p_hard), noise.train_xi
    )
    test_set = Samples(
        *draw_labels(_stream(key, TEST_LABELS), static.n_test, data.p_easy, data.p_hard),
        noise.test_xi,
    )
    train_patches = _patches(static, params, train_set, _stream(key, STRONG_IMAGES), bank)
    test_patches = _patches(static, params, test_set, _stream(key, TEST_IMAGES), bank, test=True)

    weak_layer, weak_activation = weak_architecture(static)
    weak = lambda patches, xi: cnn_output(teacher, weak_layer, weak_activation, patches, xi)  # noqa: E731
    pseudo = sign(weak(train_patches, train_set.xi))
    mask = jnp.arange(n_pad) < strong.n
    flipped = mask & (pseudo != train_set.y)
    clean = mask & (pseudo == train_set.y)
    weak_errors = errors_by_kind(sign(weak(test_patches, test_set.xi)), test_set.y, test_set.kind)

    second_layer = strong_second_layer(m, dtype)
    activation = _activation(static, params)
    loss = registry.loss(static.loss)
    forward = lambda f, patches, xi: cnn_output(f, second_layer, activation, patches, xi)  # noqa: E731
    train_batch = Batch(train_patches, train_set.xi, train_set.y, pseudo, mask, train_set.kind)
    test_batch = Batch(
        test_patches,
        test_set.xi,
        test_set.y,
        test_set.y,
        jnp.ones(static.n_test, bool),
        test_set.kind,
    )
    init_signal = strong.sigma_0 * jax.random.normal(
        _stream(key, STRONG_INIT), (2 * m, signal_dim), dtype
    )
    init = Filters(init_signal, noise.init_noise)
    optimizer = registry.optimizer(static.optimizer)(strong.lr, strong.momentum)
    steps = strong.eval_steps
    if static.student is not None:  # a user eqx.Module instead of the CNN
        from w2s_jax.simulation import custom_student  # equinox: ~0.2 s, only when used

        final, curves = custom_student.fit_and_record(
            static, params, key, init, train_batch, test_batch, loss, optimizer, steps
        )
        return curves, _scalars(weak_errors, pseudo, train_set.y, mask, curves, final)

    dual = use_dual_form(static, *train_set.xi.shape)

    def fit(labels, metrics):
        """Train ``init`` on ``labels``; ``(final TrainState, curves)``."""
        labels = labels.astype(dtype)

        def objective(signal, noise_preactivations):
            out = cnn_output_from_noise(
                signal, second_layer, activation, train_patches, noise_preactivations
            )
            return mean_loss(loss, out, labels, mask)

        if dual:
            return train_in_span(
                init, train_set.xi, objective, optimizer, steps, strong.stop_loss, metrics
            )
        primal = lambda f: objective(f.signal, train_set.xi @ f.noise.T)  # noqa: E731
        return train(init, primal, optimizer, steps, strong.stop_loss, metrics)

    def race(f: Filters, grad_weight, own_mu, own_nu) -> dict:
        """The proof's quantities (docs/MODEL.md, "The race"): per-filter signal
        coefficients, per-sample noise coefficients rho_i (a filter's learned part along
        xi_i over |xi_i|^2, exact when the noise vectors are orthogonal), the init and
        learned noise terms at test points (RMS over points and filters), and |l'| by
        data group."""
        learned = f.noise - init.noise  # (2m, D)
        own = jnp.where(pseudo[:, None] > 0, jnp.arange(2 * m) < m, jnp.arange(2 * m) >= m)
        rho = (train_set.xi @ learned.T) / jnp.sum(train_set.xi**2, axis=1, keepdims=True)
        rho_own = jnp.sum(jnp.where(own, rho, 0.0), axis=1) / m  # (n_pad,)
        rho_mean = masked_mean(rho_own, mask)
        rho_var = masked_mean((rho_own - rho_mean) ** 2, mask)
        rms = lambda a: jnp.sqrt(jnp.mean(a**2))  # noqa: E731
        hard = mask & (train_set.kind == HARD)
        if bank is None:  # filters of class -1 on nu_{+1} (e3), of class +1 on nu_{-1} (e4)
            other_nu = jnp.stack([f.signal[m:, 2], f.signal[:m, 3]])
        else:
            other_nu = jnp.full_like(own_nu, jnp.nan)
        return {
            "race_mu_mean": data.mu_norm * jnp.mean(own_mu),
            "race_nu_abs": data.nu_norm * jnp.mean(jnp.abs(own_nu)),
            # The other class's filters on nu_s: what wrongly labelled hard points teach.
            "race_nu_other_abs": data.nu_norm * jnp.mean(jnp.abs(other_nu)),
            "race_rho_mean": rho_mean,
            "race_rho_std": jnp.sqrt(rho_var),
            "race_init_test": rms(test_set.xi @ init.noise.T),
            "race_noise_test": rms(test_set.xi @ learned.T),
            "race_grad_easy": masked_mean(grad_weight, mask & (train_set.kind == EASY)),
            "race_grad_both": masked_mean(grad_weight, mask & (train_set.kind == BOTH)),
            "race_grad_hard_right": masked_mean(grad_weight, hard & ~flipped),
            "race_grad_hard_wrong": masked_mean(grad_weight, hard & flipped),
        }

    def metrics(f: Filters) -> dict:
        noise_inner = train_set.xi @ f.noise.T  # (n_pad, 2m), read once for both uses
        out_train = cnn_output_from_noise(
            f.signal, second_layer, activation, train_patches, noise_inner
        )
        values, grad_weight = training_curves(out_train, train_batch, loss)
        values.update(test_curves(sign(forward(f, test_patches, test_set.xi)), test_batch))
        noise_own = jnp.where(pseudo > 0, noise_inner[:, :m].max(1), noise_inner[:, m:].max(1))
        if bank is None:  # f.signal[:m, 0] is <w_{+1,r}, e1>; mu_{+1} = mu_norm e1, and so on.
            own_mu = jnp.stack([f.signal[:m, 0], f.signal[m:, 1]])
            own_nu = jnp.stack([f.signal[:m, 2], f.signal[m:, 3]])
        else:  # images: the inner products with the class-mean images (docs/REAL_IMAGES.md)
            own_mu, own_nu = images.signal_alignment(f.signal, bank.class_means, m)
        values.update(
            {
                "signal_mu": jnp.mean(data.mu_norm * own_mu.max(1)),
                "signal_nu": jnp.mean(data.nu_norm * own_nu.max(1)),
                "signal_neg_nu": jnp.mean(-data.nu_norm * own_nu.min(1)),
                "noise_clean": masked_mean(noise_own, clean),
                "noise_flipped": masked_mean(noise_own, flipped),
            }
        )
        if static.race:
            values.update(race(f, grad_weight, own_mu, own_nu))
        values.update({name: fn(f, train_batch, test_batch) for name, fn in static.metrics})
        finite = jnp.all(jnp.isfinite(f.signal)) & jnp.all(jnp.isfinite(f.noise))
        finite &= jnp.isfinite(values["train_loss"])
        return nan_after_divergence(values, finite, dtype)

    final, curves = fit(pseudo, metrics)
    if static.ceiling:

        def ceiling_metrics(f):
            wrong = sign(forward(f, test_patches, test_set.xi)) != test_set.y
            return {"ceiling_test_error": jnp.mean(wrong).astype(dtype)}

        _, ceiling = fit(train_set.y, ceiling_metrics)
        curves.update(ceiling)
    return curves, _scalars(weak_errors, pseudo, train_set.y, mask, curves, final)


def _scalars(weak_errors: dict, pseudo, y, mask, curves: dict, final) -> dict:
    """Per-configuration scalars: the teacher's test errors, the flip rate, divergence,
    and where the student stopped (``final``: its last training state)."""
    return {
        "weak_test_error": weak_errors[""],
        "weak_easy_error": weak_errors["_easy"],
        "weak_hard_error": weak_errors["_hard"],
        "weak_both_error": weak_errors["_both"],
        "flip_rate": masked_mean(pseudo != y, mask),
        "diverged": jnp.any(jnp.isnan(curves["train_loss"])),
        "strong_stop_step": final.step,
        "stopped": final.stopped,
    }


def run_configuration(
    static: Static, params: Params, key: PRNGKeyArray, bank: images.ImageBank | None = None
) -> tuple[dict, dict]:
    """Teacher and student of one configuration (unbatched; jit or vmap it outside)."""
    return run_student(static, params, key, train_teacher(static, params, key, bank), bank)
