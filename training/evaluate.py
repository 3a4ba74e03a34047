"""Metrics on the held-out split: macro-F1, accuracy, calibration error, per-class report, plots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from pyfunc_model import MAX_BATCH_ROWS
from training.data import title_only
from training.review_threshold import coverage_at_precision

#: Held-out rows scored per input set. Past it, a title-grouped random subset is scored: macro-F1's
#: sampling error at 50,000 rows (~0.002) is below any difference worth acting on, while every
#: row costs three passes through the served model. amazon.in's and PriceRunner's test splits
#: (under 10,000 rows) are scored whole.
MAX_EVAL_ROWS = 50_000


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Lay out, write as PNG and close (figures left open pile up across a --cv run)."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def expected_calibration_error(proba: np.ndarray, y_idx: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins (the usual definition)."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_idx
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    return classification_report(y_true, y_pred, output_dict=True, zero_division=0)


def confusion_plot(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix as a PNG."""
    cm = confusion_matrix(y_true, y_pred, labels=labels).astype(float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(6, 0.45 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)


def without_subcategory(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows with the sub-category removed (it maps almost one-to-one to the category)."""
    out = frame.copy()
    out["subcategory"] = None
    return out


#: The three input sets quality is reported on: metric-name suffix -> how test rows are reduced.
INPUT_SETS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "": lambda frame: frame,
    "_title_only": title_only,
    "_no_subcategory": without_subcategory,
}
INPUT_SET_TITLES = {"": "all fields", "_title_only": "title only", "_no_subcategory": "all but sub-category"}


@dataclass(frozen=True)
class Scored:
    """The assembled model's answers on one input set, as arrays aligned with the labels."""

    proba: np.ndarray
    pred: np.ndarray
    model_used: np.ndarray
    needs_review: np.ndarray


def score_frame(model: PythonModel, frame: pd.DataFrame, classes: np.ndarray) -> Scored:
    # predict refuses batches over MAX_BATCH_ROWS (a serving limit); large test splits go in slices
    out = pd.concat(
        [model.predict(None, frame.iloc[i : i + MAX_BATCH_ROWS]) for i in range(0, len(frame), MAX_BATCH_ROWS)],
        ignore_index=True,
    )
    proba = np.vstack([[row[str(c)] for c in classes] for row in out["probabilities"]])
    return Scored(
        proba, out["category"].to_numpy(), out["model_used"].to_numpy(), out["needs_review"].to_numpy(dtype=bool)
    )


def quality_metrics(y: np.ndarray, scored: Scored, classes: np.ndarray, suffix: str) -> dict[str, float]:
    """Macro-F1, accuracy, ECE, primary share, and what the served review threshold does here."""
    y_idx = np.searchsorted(classes, y)
    correct = scored.pred == y
    accepted = ~scored.needs_review
    return {
        f"macro_f1{suffix}": macro_f1(y, scored.pred),
        f"accuracy{suffix}": float(correct.mean()),
        f"ece{suffix}": expected_calibration_error(scored.proba, y_idx),
        f"primary_share{suffix}": float((scored.model_used == "primary").mean()),
        f"review_coverage{suffix}": float(accepted.mean()),
        f"review_precision{suffix}": float(correct[accepted].mean()) if accepted.any() else float("nan"),
        f"coverage_at_98{suffix}": coverage_at_precision(scored.proba.max(axis=1), correct),
    }


def reliability_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, n_bins: int = 15) -> Path:
    """Accuracy against confidence per equal-width bin, one line per input set; the diagonal is perfect.

    ``curves``: label -> (confidence, correct). Marker area shows how many rows a bin holds.
    """
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for label, (conf, correct) in curves.items():
        bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
        used = np.unique(bins)
        mean_conf = np.array([conf[bins == b].mean() for b in used])
        accuracy = np.array([correct[bins == b].mean() for b in used])
        counts = np.array([(bins == b).sum() for b in used])
        ece = float(np.sum(counts / len(conf) * np.abs(accuracy - mean_conf)))
        line = ax.plot(mean_conf, accuracy, marker="", label=f"{label} (ECE {ece:.3f}, n={len(conf)})")[0]
        ax.scatter(mean_conf, accuracy, s=20 + 300 * counts / counts.max(), color=line.get_color(), alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (mean per bin)")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability diagram (held-out split)")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def per_class_f1_plot(scores: dict[str, dict[str, float]], path: str | Path, title: str) -> Path:
    """Horizontal bars of F1 per class, one bar per series (e.g. title only, all fields, baseline),
    classes sorted by the first series so the weak ones are at the top."""
    series = list(scores)
    classes = sorted(scores[series[0]], key=lambda c: scores[series[0]][c])
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(8, max(4, 0.35 * len(classes) * max(1, len(series) / 2))))
    for i, name in enumerate(series):
        ys = np.arange(len(classes)) + i * height
        ax.barh(ys, [scores[name].get(c, 0.0) for c in classes], height=height, label=name)
    ax.set_yticks(np.arange(len(classes)) + height * (len(series) - 1) / 2, classes, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    labels = [str(c) for c in classes]
    scores = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return dict(zip(labels, (float(s) for s in scores), strict=True))
