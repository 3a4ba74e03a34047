"""Why this category: the title words that pushed the answer and the booster's top features.

Asked for per request (``explain`` param), never computed otherwise. Two views, both exact for
what they describe rather than approximations of the whole chain:

- ``title_words``: for each distinct word of the title, how much the title scorer's margin for
  the answered class falls when that word is removed (leave-one-word-out on the fitted linear
  scorer). A word with a positive value pushed the answer; removing the top word lowers that
  class's score by exactly its value. Reviewers read words, not hashed n-gram ids.
- ``features``: LightGBM's ``pred_contrib`` for the answered class on rows the primary answered
  (SHAP values of the booster; with the bias they add up to the booster's raw score), the largest
  in absolute value, named as the features are named (``features.pipeline``).

Each row gets one small JSON string: ``{"category", "model_used", "title_words", "features"}``;
rows answered by a fallback keep their title words and say which model answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np

from features.text import as_strings

EXPLANATION_COLUMN = "explanation"
TOP_WORDS = 5
#: per-class feature blocks (``text_score_3``) are shown with the class's name (``text_score[toys]``)
_PER_CLASS = re.compile(r"^(text_score|text_nb_logp|subcategory_share)_(\d+)$")
TOP_FEATURES = 5


def title_word_effects(scorer: object, titles: Sequence[str], classes: np.ndarray) -> list[list[tuple[str, float]]]:
    """Per title, (word, margin drop for its class) for each distinct word, largest first.

    ``classes``: the class index whose margin is explained, per title. One vectorised pass over
    every title with one word left out."""
    variants: list[str] = []
    spans: list[tuple[int, list[str]]] = []
    for title in titles:
        words = list(dict.fromkeys(str(title).split()))
        start = len(variants)
        variants.append(str(title))
        for w in words:
            variants.append(" ".join(t for t in str(title).split() if t != w))
        spans.append((start, words))
    margins = scorer.linear_.scores(scorer.vectorizer_.transform(variants))  # type: ignore[attr-defined]
    out = []
    for (start, words), c in zip(spans, classes, strict=True):
        full = margins[start, c]
        drops = [(w, float(full - margins[start + 1 + i, c])) for i, w in enumerate(words)]
        out.append(sorted(drops, key=lambda d: -d[1]))
    return out


def readable_names(feature_names: Sequence[str], classes: Sequence[str]) -> list[str]:
    """Feature names with per-class indices replaced by the class they score."""
    out = []
    for name in feature_names:
        m = _PER_CLASS.match(str(name))
        out.append(f"{m.group(1)}[{classes[int(m.group(2))]}]" if m and int(m.group(2)) < len(classes) else str(name))
    return out


def booster_contributions(booster: object, X: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """(rows, features + 1) SHAP contributions of each row's class, the last column its bias."""
    contrib = np.asarray(booster.predict(X, pred_contrib=True, validate_features=False))  # type: ignore[attr-defined]
    width = contrib.shape[1] // n_classes
    per_class = contrib.reshape(len(X), n_classes, width)
    return per_class[np.arange(len(X)), classes]


def explanations(
    *,
    titles: Sequence[str],
    categories: Sequence[str],
    model_used: Sequence[str],
    class_index: np.ndarray,
    scorer: object | None,
    booster: object | None,
    X: np.ndarray | None,
    feature_names: Sequence[str],
    n_classes: int,
) -> np.ndarray:
    """One JSON string per row (see the module docstring)."""
    n = len(titles)
    words: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    if scorer is not None:
        words = title_word_effects(scorer, as_strings(np.asarray(titles, dtype=object)), class_index)
    primary = np.asarray([m == "primary" for m in model_used])
    features: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    if booster is not None and X is not None and primary.any():
        rows = np.flatnonzero(primary)
        contrib = booster_contributions(booster, X[rows], class_index[rows], n_classes)[:, :-1]
        for r, values in zip(rows, contrib, strict=True):
            top = np.argsort(-np.abs(values))[:TOP_FEATURES]
            features[r] = [(str(feature_names[j]), round(float(values[j]), 4)) for j in top if values[j] != 0]
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = json.dumps(
            {
                "category": categories[i],
                "model_used": model_used[i],
                "title_words": [[w, round(v, 4)] for w, v in words[i][:TOP_WORDS]],
                "features": [[f, v] for f, v in features[i]],
            },
            ensure_ascii=False,
        )
    return out


__all__ = ["EXPLANATION_COLUMN", "booster_contributions", "explanations", "readable_names", "title_word_effects"]
