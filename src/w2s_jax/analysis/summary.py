"""Per-configuration summary from the recorded curves (NumPy only; docs/MODEL.md,
"What is recorded").

Everything here reads arrays that the compiled program produced; nothing is
recomputed. Curves are on the run's union of evaluation steps; a configuration's
own last evaluation step is its ``strong.steps``. A run that stopped at its target
loss (``strong.stop_loss``) is frozen from its stop on: its curves repeat the stopped
state, and its best step is reported no later than its stop.
"""

from __future__ import annotations

import numpy as np

from w2s_jax.analysis.regimes import RegimeThresholds, classify_regimes

SUMMARY_COLUMNS = (
    "weak_test_error", "weak_hard_error", "flip_rate", "strong_test_error",
    "strong_best_test_error", "strong_best_step", "train_acc_pseudo", "label_correction",
    "label_correction_at_best", "w2s_gain", "pgr", "regime", "diverged",
    "weak_easy_error", "weak_both_error", "strong_hard_error", "train_acc_true",
    "ceiling_test_error", "strong_stop_step", "stopped",
)  # fmt: skip


def _at(curve: np.ndarray, index: np.ndarray) -> np.ndarray:
    return curve[np.arange(len(index)), index]


def summarize(
    curves: dict[str, np.ndarray],
    scalars: dict[str, np.ndarray],
    steps: np.ndarray,
    final_steps: np.ndarray,
    thresholds: RegimeThresholds = RegimeThresholds(),
) -> dict[str, np.ndarray]:
    """Columns of ``summary.csv`` for ``C`` configurations.

    ``curves``: name -> ``(C, E)``; ``scalars``: name -> ``(C,)``; ``steps (E,)``;
    ``final_steps (C,)`` each configuration's last step (``strong.steps``).
    """
    error = curves["test_error"]
    last = np.searchsorted(steps, final_steps)
    stop_step = scalars.get("strong_stop_step", final_steps)
    diverged = scalars["diverged"].astype(bool)
    with np.errstate(invalid="ignore"):
        filled = np.where(np.isnan(error), np.inf, error)
        best = np.argmin(filled, axis=1)
        best_error = _at(error, best)
        final = _at(error, last)
        weak = scalars["weak_test_error"]
        out = {
            "weak_test_error": weak,
            "weak_hard_error": scalars["weak_hard_error"],
            "weak_easy_error": scalars["weak_easy_error"],
            "weak_both_error": scalars["weak_both_error"],
            "flip_rate": scalars["flip_rate"],
            "strong_test_error": final,
            "strong_best_test_error": best_error,
            "strong_best_step": np.where(
                np.isnan(best_error), -1, np.minimum(steps[best], stop_step)
            ),
            "strong_hard_error": _at(curves["test_error_hard"], last),
            "train_acc_pseudo": _at(curves["train_acc_pseudo"], last),
            "train_acc_true": _at(curves["train_acc_true"], last),
            "label_correction": _at(curves["label_correction"], last),
            "label_correction_at_best": _at(curves["label_correction"], best),
            "w2s_gain": weak - final,
            "diverged": diverged,
            "strong_stop_step": stop_step,
            "stopped": scalars.get("stopped", np.zeros(len(final), bool)).astype(bool),
        }
        if "ceiling_test_error" in curves:
            ceiling = _at(curves["ceiling_test_error"], last)
            out["ceiling_test_error"] = ceiling
            out["pgr"] = (weak - final) / (weak - ceiling)
        else:
            out["ceiling_test_error"] = np.full(len(final), np.nan)
            out["pgr"] = np.full(len(final), np.nan)
    if "race_noise_test" in curves:  # run.race: the race at the stop (docs/MODEL.md)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = _at(curves["race_noise_test"], last)
            out["race_gamma_over_tau"] = _at(curves["race_nu_abs"], last) / tau
            out["race_init_over_tau"] = _at(curves["race_init_test"], last) / tau
    out["regime"] = classify_regimes(
        weak_error=weak,
        final_error=final,
        best_error=best_error,
        final_train_acc_pseudo=out["train_acc_pseudo"],
        label_correction_at_best=out["label_correction_at_best"],
        diverged=diverged,
        thresholds=thresholds,
    )
    return out


def gather(records: dict, ids: list[str], steps: np.ndarray) -> tuple[dict, dict]:
    """Chunk records (``storage.read_chunks``) as arrays in the order of ``ids``: curves
    ``(C, E)`` on ``steps (E,)`` and scalars ``(C,)``, NaN where a configuration is not
    done or was not evaluated at a step."""
    names = sorted({name for r in records.values() for name in r.curves})
    curves = {name: np.full((len(ids), len(steps)), np.nan, np.float64) for name in names}
    scalar_names = sorted({name for r in records.values() for name in r.scalars})
    scalars = {name: np.full(len(ids), np.nan) for name in scalar_names}
    for row, config_id in enumerate(ids):
        record = records.get(config_id)
        if record is None:
            continue
        where = np.searchsorted(steps, record.steps)
        for name, values in record.curves.items():
            curves[name][row, where] = values
        for name, value in record.scalars.items():
            scalars[name][row] = value
    return curves, scalars


def summarize_done(
    curves: dict, scalars: dict, steps: np.ndarray, final_steps: np.ndarray, done: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`summarize` of the rows that are ``done``, the others blank (NaN, or an
    empty label): the summary of a partial or running directory."""
    part = summarize(
        {k: v[done] for k, v in curves.items()},
        {k: v[done] for k, v in scalars.items()},
        steps,
        final_steps[done],
    )
    out = {}
    for name, values in part.items():
        values = np.asarray(values)
        blank = "" if values.dtype.kind in "USO" else np.nan
        full = np.full(len(done), blank, object if blank == "" else float)
        full[done] = values
        out[name] = full.astype(values.dtype) if blank == "" else full
    return out
