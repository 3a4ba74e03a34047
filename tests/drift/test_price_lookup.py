"""The price model's neighbour search equals scipy's sparse cosine product.

Why: serving computes similarities from the index's posting lists in plain numpy (the sparse
machinery costs more than the arithmetic for a few rows); it must give the same neighbours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyfunc_model.drift import DriftReference
from pyfunc_model.drift.summary import title_tokens


def test_similarities_equal_the_sparse_product(reference: DriftReference, fresh: pd.DataFrame) -> None:
    price = reference.lookups().price
    words, _ = title_tokens(fresh["title"].tolist() + ["", "zzqx unseenword"])
    words.data[:] = 1.0
    query = words.multiply(price.idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(query.multiply(query).sum(axis=1)).ravel())
    query = query.multiply(1.0 / np.where(norms > 0, norms, 1.0)[:, None]).tocsr()
    expected = (query @ price.index).toarray()

    rows = np.repeat(np.arange(query.shape[0]), np.diff(query.indptr))
    got = price._similarities(rows, query.indices, query.data, query.shape[0])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert (got > 0).any()
    np.testing.assert_array_equal(got[-2:], 0.0)  # empty and unseen titles match nothing


def test_one_row_and_a_batch_give_the_same_prediction(reference: DriftReference, fresh: pd.DataFrame) -> None:
    price = reference.lookups().price
    words, _ = title_tokens(fresh["title"].tolist())
    words.data[:] = 1.0
    subcategory = np.zeros(words.shape[0])
    batch = price.predict(words, subcategory)
    for i in (0, 7, words.shape[0] - 1):
        one = price.predict(words[i : i + 1], subcategory[i : i + 1])
        np.testing.assert_allclose([one[0][0], one[1][0]], [batch[0][i], batch[1][i]], rtol=0, atol=1e-12)
