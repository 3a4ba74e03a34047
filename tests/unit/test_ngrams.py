"""``FastTfidf`` must give scikit-learn's matrix bit for bit, in every process, on hostile text.

It replaces the two ``TfidfVectorizer``s on the serving hot path; any difference would silently
change the linear scores the booster was trained on.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

import features.ngrams as ngrams
from features.ngrams import FastTfidf
from training.synthetic import generate_synthetic_products

ROOT = Path(__file__).resolve().parents[2]
AMAZON = ROOT.parent / "shared" / "data" / "amazon_in_products.csv"

HOSTILE = [
    "",
    " ",
    "\t\n \r\x0b\x0c",
    "a",
    "ab",
    "a b c d",
    "Samsung Galaxy M14 5G (Smoky Teal, 6GB, 128GB Storage)",
    "USHA   fan\t\t1200mm  --  white!!",
    "Café crème brûlée — 100% naturel",
    "ΣΟΦΟΣ ΟΔΥΣΣΕΥΣ ΑΣ",  # Greek capital sigma lower-cases context-dependently
    "İstanbul ǅemal ß STRASSE ﬁne ﬃ",  # lower() changes the length
    "मोबाइल फ़ोन 5G सैमसंग",  # Devanagari with combining marks
    "emoji 😀😀 👍🏽 flag 🇮🇳 zwj 👨\u200d👩\u200d👧",
    "nbsp\xa0sep\u2028line\u2029para\u3000ideo\x1c\x1d\x1e\x1f\x85end",
    "ctrl\x00\x01\x07\x1b[0m nul",
    "under_score __init__ a_b _ __ 12 3 4.5 ₹1,299",
    "lone surrogate \ud800 here",
    "x" * 10_000,
    ("word " * 2_000).strip(),
    "ab " * 3_400,
    " ".join(f"tok{i}" for i in range(1_500)),
]


def _sklearn_pair(docs: list[str], max_features: int | None) -> list[TfidfVectorizer]:
    common = {"sublinear_tf": True, "dtype": np.float32, "max_features": max_features}
    pair = [
        TfidfVectorizer(ngram_range=(1, 2), **common),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common),
    ]
    for v in pair:
        v.fit(docs)
    return pair


def _assert_same(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    want = want.tocsr()
    want.sort_indices()
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # bit for bit, not just close


def _corpus() -> list[str]:
    titles = generate_synthetic_products(600, seed=5)["title"].tolist()
    return titles + HOSTILE[:17]  # the vocabulary also sees odd characters


@pytest.fixture(scope="module")
def fitted() -> tuple[FastTfidf, list[TfidfVectorizer]]:
    docs = _corpus()
    return FastTfidf().fit(docs), _sklearn_pair(docs, 300_000)


def test_equals_sklearn_on_hostile_and_unseen_text(fitted):
    fast, pair = fitted
    docs = HOSTILE + generate_synthetic_products(300, seed=9)["title"].tolist()
    _assert_same(fast.transform(docs), sp.hstack([v.transform(docs) for v in pair]))


@pytest.mark.parametrize("doc", HOSTILE)
def test_single_row_equals_sklearn(fitted, doc):
    fast, pair = fitted
    _assert_same(fast.transform([doc]), sp.hstack([v.transform([doc]) for v in pair]))


def test_fit_transform_and_learned_state_match_sklearn(fitted):
    fast, pair = fitted
    docs = _corpus()
    trained = FastTfidf().fit_transform(docs)
    _assert_same(trained, sp.hstack([v.fit_transform(docs) for v in _sklearn_pair(docs, 300_000)]))
    np.testing.assert_allclose(trained.toarray(), fast.transform(docs).toarray(), rtol=1e-6, atol=1e-7)
    assert fast.n_features_ == sum(len(v.vocabulary_) for v in pair)
    np.testing.assert_array_equal(fast.idf_, np.concatenate([v.idf_ for v in pair]))


def test_max_features_cut_and_unknown_characters():
    docs = _corpus()
    fast, pair = FastTfidf(max_features=300).fit(docs), _sklearn_pair(docs, 300)
    queries = [*HOSTILE, "qzqz ÿÿÿ ααα"]
    _assert_same(fast.transform(queries), sp.hstack([v.transform(queries) for v in pair]))


def test_chunked_batches_equal_one_chunk(fitted, monkeypatch):
    fast, pair = fitted
    docs = HOSTILE * 3
    whole = fast.transform(docs)
    monkeypatch.setattr(ngrams, "_CHUNK_CHARS", 5_000)
    _assert_same(fast.transform(docs), whole)
    _assert_same(whole, sp.hstack([v.transform(docs) for v in pair]))


def test_pickle_and_from_vectorizers(fitted):
    fast, pair = fitted
    docs = HOSTILE[:10]
    want = fast.transform(docs)
    _assert_same(pickle.loads(pickle.dumps(fast)).transform(docs), want)
    _assert_same(FastTfidf.from_vectorizers(*pair).transform(docs), want)
    with pytest.raises(ValueError, match="word and a char_wb"):
        FastTfidf.from_vectorizers(pair[1], pair[0])


def test_empty_batch_and_non_strings(fitted):
    fast, _ = fitted
    assert fast.transform([]).shape == (0, fast.n_features_)
    with pytest.raises(AttributeError):
        fast.transform([None])


_CHILD = """
import hashlib, pickle, sys
import numpy as np
fast = pickle.load(open(sys.argv[1], "rb"))
docs = pickle.load(open(sys.argv[2], "rb"))
m = fast.transform(docs)
h = hashlib.sha256()
for a in (m.indptr, m.indices, m.data, fast.word_keys_, fast.char_keys_):
    h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def test_keys_and_output_identical_across_processes(fitted, tmp_path):
    """Keys are fixed-constant hashes (no ``hash()``): any process, any PYTHONHASHSEED, same bits."""
    fast, _ = fitted
    (tmp_path / "fast.pkl").write_bytes(pickle.dumps(fast))
    (tmp_path / "docs.pkl").write_bytes(pickle.dumps(HOSTILE))
    digests = set()
    for seed in ("0", "1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path / "fast.pkl"), str(tmp_path / "docs.pkl")],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


@pytest.mark.slow
@pytest.mark.skipif(not AMAZON.exists(), reason="real data not available")
def test_equals_sklearn_on_real_titles():
    from features.text import as_strings
    from training.data import load_products, title_group_split

    frame, _ = load_products(AMAZON)
    train, test = title_group_split(frame, 0.2, 42)
    train_docs, test_docs = as_strings(train["title"]), as_strings(test["title"])
    fast, pair = FastTfidf().fit(train_docs), _sklearn_pair(train_docs, 300_000)
    _assert_same(fast.transform(test_docs), sp.hstack([v.transform(test_docs) for v in pair]))
