"""Peer drift detectors on the batches ``bench/drift_eval.py`` wrote to disk (runs in the peers' venv).

    bench/.peers-venv/bin/python bench/drift_peers.py DIR

``DIR`` holds ``reference.csv``, ``batches.csv`` (a ``batch`` column names each batch) and
``columns.json`` ({"numeric": [...], "categorical": [...]}). Writes ``peers.json``: per batch,

- alibi-detect ``TabularDrift`` (KS per numeric column, chi-square per categorical column,
  Bonferroni at its default p_val=0.05): its verdict and the smallest per-column p-value;
- Evidently ``DataDriftPreset``: the per-column stattest Evidently's registry picks for this
  reference (the preset's own choice), its verdict per column, the dataset verdict at the
  preset's default drift_share=0.5, and the largest per-column score / threshold.

Evidently runs through its stattest registry, not ``Report.run`` (~6 s per batch here, against
0.1 s; the per-column scores are the same numbers, checked on one batch by ``--check-report``).
Missing numeric values become -1 and missing categories "__missing__" (neither peer accepts NaN).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

MISSING = "__missing__"


def _prepare(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = frame[numeric + categorical].copy()
    out[numeric] = out[numeric].astype("float64").fillna(-1.0)
    for col in categorical:
        out[col] = out[col].astype(object).where(out[col].notna(), MISSING).astype(str)
    return out


def run_alibi(ref: pd.DataFrame, batches: dict[str, pd.DataFrame], numeric: list[str], categorical: list[str]) -> dict:
    from alibi_detect.cd import TabularDrift

    codes = {col: {v: i for i, v in enumerate(pd.unique(ref[col]))} for col in categorical}

    def encode(frame: pd.DataFrame) -> np.ndarray:
        cols = [frame[c].to_numpy(dtype="float64") for c in numeric]
        cols += [frame[c].map(codes[c]).fillna(len(codes[c])).to_numpy(dtype="float64") for c in categorical]
        return np.column_stack(cols)

    # the reference's categories; a batch's unseen values share one extra code, which alibi adds by union
    cats = {len(numeric) + i: list(range(len(codes[c]))) for i, c in enumerate(categorical)}
    detector = TabularDrift(encode(ref), p_val=0.05, categories_per_feature=cats)
    out = {}
    for name, batch in batches.items():
        pred = detector.predict(encode(batch), drift_type="batch", return_p_val=True)["data"]
        out[name] = {"drift": bool(pred["is_drift"]), "min_p": float(np.min(pred["p_val"]))}
    return out


def run_evidently(
    ref: pd.DataFrame, batches: dict[str, pd.DataFrame], numeric: list[str], categorical: list[str]
) -> dict:
    from evidently.legacy.calculations.stattests.registry import get_stattest

    kinds = {**{c: "num" for c in numeric}, **{c: "cat" for c in categorical}}
    out = {}
    for name, batch in batches.items():
        drifted, ratios = [], []
        for col, kind in kinds.items():
            test = get_stattest(ref[col], batch[col], kind, None)
            res = test(ref[col], batch[col], kind, None)
            drifted.append(bool(res.drifted))
            score, thr = float(res.drift_score), float(res.actual_threshold)
            # p-value tests drift when the score is BELOW the threshold, distances when above
            ratios.append(thr / max(score, 1e-300) if test.name in P_VALUE_TESTS else score / thr)
        out[name] = {"drift": bool(np.mean(drifted) >= 0.5), "max_ratio": float(max(ratios))}
    return out


#: Evidently stattests whose score is a p-value (all others here are distances).
P_VALUE_TESTS = {"ks", "chisquare", "z", "fisher_exact"}


def check_report(ref: pd.DataFrame, batch: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
    """One full ``Report([DataDriftPreset()])`` run: print its per-column scores next to the registry's."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snap = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(batch, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
    )
    report = {m["config"].get("column"): m["value"] for m in snap.dict()["metrics"] if m["config"].get("column")}
    for col in numeric + categorical:
        kind = "num" if col in numeric else "cat"
        res = get_stattest(ref[col], batch[col], kind, None)(ref[col], batch[col], kind, None)
        print(f"{col:<16} report {report.get(col)!s:<24} registry {res.drift_score}")


def main() -> None:
    folder = Path(sys.argv[1])
    columns = json.loads((folder / "columns.json").read_text())
    numeric, categorical = columns["numeric"], columns["categorical"]
    dtypes = {c: str for c in categorical}
    ref = _prepare(pd.read_csv(folder / "reference.csv", dtype=dtypes), numeric, categorical)
    raw = pd.read_csv(folder / "batches.csv", dtype={**dtypes, "batch": str})
    batches = {name: _prepare(g, numeric, categorical) for name, g in raw.groupby("batch", sort=False)}
    if "--check-report" in sys.argv:
        check_report(ref, next(iter(batches.values())), numeric, categorical)
        return
    result = {
        "alibi": run_alibi(ref, batches, numeric, categorical),
        "evidently": run_evidently(ref, batches, numeric, categorical),
    }
    (folder / "peers.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
