"""`review-export`: the captured rows that needed review, as a CSV for people to label.

    python -m registry_scripts review-export --capture s3://bucket/traffic --out review.csv

One line per distinct input (a listing sent a hundred times is labelled once; ``times_seen``
says how often it came), with the model's answer, its top alternatives and an empty ``label``
column. The filled file trains the next model: ``python -m training.train --data catalogue.csv
--data review.csv`` (rows left without a label are skipped).

``--explain`` adds the model's ``explanation`` per row (title words and booster features, see
docs/EXPLAIN.md): rows captured with ``explain`` keep theirs, the others are explained by the
registered version that answered them (or by ``--model-uri``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from features.schema import INPUT_COLUMNS
from pyfunc_model.capture.read import read_capture, request_frame
from pyfunc_model.capture.rows import (
    CAPTURED_AT,
    MODEL_NAME,
    MODEL_VERSION,
    PROBABILITIES,
    REQUEST_ID,
    REVIEW_LABEL,
)
from pyfunc_model.explain import EXPLANATION_COLUMN
from registry_scripts._common import CommandError, load_uncaptured


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--capture", required=True, help="capture folder or s3://bucket/prefix")
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--top", type=int, default=3, help="alternatives per row (default: %(default)s)")
    parser.add_argument("--model-version", default=None, help="only rows answered by this model version")
    parser.add_argument(
        "--explain", action="store_true", help="add each row's explanation (loads the model version that answered)"
    )
    parser.add_argument("--model-uri", default=None, help="with --explain: explain with this model instead")


def alternatives(probabilities: pd.Series, top: int) -> pd.DataFrame:
    """``alternative_i`` and ``alternative_i_probability`` for the ``top`` most likely classes."""
    rows = []
    for proba in probabilities.tolist():
        ranked = sorted((proba or {}).items(), key=lambda kv: -kv[1])[:top]
        row: dict[str, object] = {}
        for i in range(top):
            name, p = ranked[i] if i < len(ranked) else (None, None)
            row[f"alternative_{i + 1}"] = name
            row[f"alternative_{i + 1}_probability"] = None if p is None else round(float(p), 4)
        rows.append(row)
    return pd.DataFrame(rows, index=probabilities.index)


def review_rows(captured: pd.DataFrame, top: int = 3, model_version: str | None = None) -> pd.DataFrame:
    """Distinct inputs that needed review, newest answer kept, most frequent first."""
    rows = captured[captured["needs_review"].fillna(False).astype(bool)]
    if model_version is not None:
        rows = rows[rows[MODEL_VERSION] == str(model_version)]
    inputs = [c for c in INPUT_COLUMNS if c in rows.columns]
    # one text per distinct input (a Series even when no row needed review)
    values = rows[inputs].fillna("").astype(str).itertuples(index=False, name=None)
    key = pd.Series(["\x1f".join(v) for v in values], index=rows.index, dtype=object)
    rows = rows.assign(times_seen=key.map(key.value_counts()).to_numpy())
    rows = rows.loc[~key.duplicated(keep="last").to_numpy()]
    out = pd.concat(
        [
            rows[inputs],
            rows[["category", "confidence", "model_used", "ood_reasons"]].rename(
                columns={"category": "predicted_category"}
            ),
            alternatives(rows[PROBABILITIES], top),
            rows[["times_seen", *(c for c in (MODEL_NAME, EXPLANATION_COLUMN) if c in rows.columns)]],
            rows[[MODEL_VERSION, REQUEST_ID, CAPTURED_AT]],
        ],
        axis=1,
    )
    out[REVIEW_LABEL] = ""
    return out.sort_values(["times_seen", CAPTURED_AT], ascending=[False, False], kind="stable").reset_index(drop=True)


def _model_uri(name: object, version: object) -> str | None:
    """The registry URI of a captured row's model, or None for a row served from a run."""
    if not name or not version or pd.isna(name) or str(version).startswith(("run-", "unknown")):
        return None
    return f"models:/{name}/{version}"


def add_explanations(rows: pd.DataFrame, model_uri: str | None = None) -> pd.DataFrame:
    """Fill ``explanation`` where the capture has none, scoring each row with the model that answered it."""

    rows = rows.copy()
    have = rows[EXPLANATION_COLUMN] if EXPLANATION_COLUMN in rows.columns else pd.Series(None, index=rows.index)
    rows[EXPLANATION_COLUMN] = have.astype(object).where(have.notna() & (have != ""), None)
    todo = rows[rows[EXPLANATION_COLUMN].isna()]
    names = todo[MODEL_NAME] if MODEL_NAME in todo.columns else pd.Series(None, index=todo.index)
    uris = pd.Series(
        [model_uri or _model_uri(n, v) for n, v in zip(names, todo[MODEL_VERSION], strict=True)], index=todo.index
    )
    if uris.isna().any():
        raise CommandError(
            f"{int(uris.isna().sum())} rows were answered by a model outside the registry; "
            "name the model to explain them with: --model-uri runs:/<run_id>/model"
        )
    for uri, group in todo.groupby(uris, sort=False):
        try:
            model = load_uncaptured(str(uri))
        except Exception as exc:
            raise CommandError(f"cannot load {uri} to explain its rows: {exc}") from exc
        answer = model.predict(request_frame(group), params={"explain": True})
        rows.loc[group.index, EXPLANATION_COLUMN] = answer[EXPLANATION_COLUMN].to_numpy()
    return rows


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise CommandError("--top must be at least 1")
    try:
        captured = read_capture(args.capture)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    rows = review_rows(captured, args.top, args.model_version)
    if args.explain and len(rows):
        rows = add_explanations(rows, args.model_uri)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False)
    print(
        f"{len(rows)} distinct rows to review (of {int(captured['needs_review'].sum())} flagged, "
        f"{len(captured)} captured) -> {out}; fill the '{REVIEW_LABEL}' column, then "
        f"python -m training.train --data <catalogue> --data {out}"
    )
    return 0
