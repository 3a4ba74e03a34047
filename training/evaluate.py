"""Metrics on the held-out split: macro-F1, accuracy, calibration error, per-class report, plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score


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
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
