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
import threading
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np

from features.text import as_strings
from features.word_removal import TitleWords, leave_one_out, word_parts

EXPLANATION_COLUMN = "explanation"
TOP_WORDS = 5
#: per-class feature blocks (``text_score_3``) are shown with the class's name (``text_score[toys]``)
_PER_CLASS = re.compile(r"^(text_score|text_nb_logp|subcategory_share)_(\d+)$")
TOP_FEATURES = 5
#: words left out one at a time per title, chosen by their own margin for the answered class
CANDIDATE_WORDS = TOP_WORDS
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def title_word_effects(
    scorer: object,
    titles: Sequence[str],
    classes: np.ndarray,
    candidates: int | None = CANDIDATE_WORDS,
) -> list[list[tuple[str, float]]]:
    """Per title, (word, margin drop for its class) for its words, largest first.

    ``classes``: the class index whose margin is explained, per title. Every value is the exact
    leave-one-word-out drop (``features.word_removal``: from the columns the word changes, not by
    vectorising the shortened title); only the ``candidates`` words whose own margin for the
    class is highest are left out (``None``: every word)."""
    vectorizer, weights = scorer.vectorizer_, scorer.linear_.weights  # type: ignore[attr-defined]
    classes = np.asarray(classes, dtype=np.int64)
    tw = TitleWords.of(vectorizer, [str(title).split() for title in titles])
    title_of, word_of, occurrences = tw.pairs()
    if candidates is not None:
        per_title = np.bincount(title_of, minlength=len(titles))
        long = per_title[title_of] > candidates
        own = np.zeros(len(title_of))
        own[long] = word_parts(vectorizer, tw, weights, word_of[long], classes[title_of[long]])
        order = np.lexsort((-own, title_of))  # per title, the highest own margin first
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - (np.cumsum(per_title) - per_title)[title_of[order]]
        keep = rank < candidates
        title_of, word_of, occurrences = title_of[keep], word_of[keep], occurrences[keep]
    full, without = leave_one_out(vectorizer, tw, weights, classes, title_of, word_of, occurrences)
    drops = full[title_of] - without
    order = np.lexsort((-drops, title_of))  # per title, the largest drop first
    out: list[list[tuple[str, float]]] = [[] for _ in titles]
    for t, u, d in zip(title_of[order].tolist(), word_of[order].tolist(), drops[order].tolist(), strict=True):
        out[t].append((tw.words[u], d))
    return out


def readable_names(feature_names: Sequence[str], classes: Sequence[str]) -> list[str]:
    """Feature names with per-class indices replaced by the class they score."""
    out = []
    for name in feature_names:
        m = _PER_CLASS.match(str(name))
        out.append(f"{m.group(1)}[{classes[int(m.group(2))]}]" if m and int(m.group(2)) < len(classes) else str(name))
    return out


def split_by_class(booster: lgb.Booster) -> list[lgb.Booster]:
    """One single-output booster per class, holding exactly that class's trees.

    A multiclass booster's raw score for class ``k`` is the sum of trees ``k, k + K, ...``, so the
    SHAP values of the class-``k`` booster are the multiclass ``pred_contrib`` block of class ``k``
    (tested). ``pred_contrib`` on the whole model runs TreeSHAP over every class's trees; a row
    only needs its answered class, ``K`` times less work. Built from LightGBM's own model text."""
    n_classes = booster.num_model_per_iteration()
    text = booster.model_to_string()
    head, rest = text.split("\nTree=0\n", 1)
    trees = re.split(r"\nTree=\d+\n", rest.split("\nend of trees", 1)[0])
    single = {"num_class": "num_class=1", "num_tree_per_iteration": "num_tree_per_iteration=1"}
    single["objective"] = "objective=regression"  # raw scores only: no multiclass transform
    lines = []
    for line in head.split("\n"):
        key = line.split("=", 1)[0]
        if key != "tree_sizes":  # byte offsets of the original trees; optional, wrong once trees move
            lines.append(single.get(key, line))
    header = "\n".join(lines) + "\n"
    out = []
    for k in range(n_classes):
        body = "".join(f"\nTree={i}\n{tree.strip()}\n" for i, tree in enumerate(trees[k::n_classes]))
        out.append(lgb.Booster(model_str=header + body + "\nend of trees\n\npandas_categorical:null\n"))
    return out


class ClassContributions:
    """``pred_contrib`` of each row's own class, from per-class boosters split on first use.

    Nothing is built until a request asks for an explanation, so ``explain`` off costs nothing."""

    def __init__(self, booster: lgb.Booster | None) -> None:
        self.booster = booster
        self._per_class: list[lgb.Booster] | None = None
        self._lock = threading.Lock()

    def _boosters(self) -> list[lgb.Booster]:
        with self._lock:
            if self._per_class is None:
                assert self.booster is not None
                self._per_class = split_by_class(self.booster)
            return self._per_class

    def __call__(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(rows, features + 1) SHAP contributions of each row's class, the last column its bias."""
        boosters = self._boosters()
        out = np.zeros((len(X), X.shape[1] + 1))
        for k in np.unique(classes):
            rows = np.flatnonzero(classes == k)
            out[rows] = boosters[int(k)].predict(X[rows], pred_contrib=True, validate_features=False)
        return out


def booster_contributions(booster: lgb.Booster, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(rows, features + 1) SHAP contributions of each row's class (one-off; models keep a
    :class:`ClassContributions` so the split is done once)."""
    return ClassContributions(booster)(X, classes)


def _largest(values: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Per row, (column, value) of its ``k`` values largest in absolute value, largest first."""
    k = min(k, values.shape[1])
    if k == 0:
        return [[] for _ in range(len(values))]
    magnitude = np.abs(values)
    top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(magnitude, top, 1), axis=1, kind="stable"), 1)
    chosen = np.take_along_axis(values, top, 1)
    return [list(zip(cols, vals, strict=True)) for cols, vals in zip(top.tolist(), chosen.tolist(), strict=True)]


def explanations(
    *,
    titles: Sequence[str],
    categories: Sequence[str],
    model_used: Sequence[str],
    class_index: np.ndarray,
    scorer: object | None,
    contributions: ClassContributions | None,
    X: np.ndarray | None,
    feature_names: Sequence[str],
) -> np.ndarray:
    """One JSON string per row (see the module docstring)."""
    n = len(titles)
    words: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    if scorer is not None:
        titles_text = as_strings(np.asarray(titles, dtype=object))
        words = title_word_effects(scorer, titles_text, class_index)
    primary = np.asarray([m == "primary" for m in model_used])
    features: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    if contributions is not None and contributions.booster is not None and X is not None and primary.any():
        rows = np.flatnonzero(primary)
        contrib = contributions(X[rows], class_index[rows])[:, :-1]
        for r, top in zip(rows.tolist(), _largest(contrib, TOP_FEATURES), strict=True):
            features[r] = [(str(feature_names[j]), round(v, 4)) for j, v in top if v != 0]
    out = np.empty(n, dtype=object)
    encode = _ENCODER.encode  # one encoder: json.dumps with options builds a new one per call
    for i in range(n):
        out[i] = encode(
            {
                "category": categories[i],
                "model_used": model_used[i],
                "title_words": [[w, round(v, 4)] for w, v in words[i][:TOP_WORDS]],
                "features": [[f, v] for f, v in features[i]],
            }
        )
    return out


__all__ = [
    "EXPLANATION_COLUMN",
    "ClassContributions",
    "booster_contributions",
    "explanations",
    "readable_names",
    "split_by_class",
    "title_word_effects",
]
