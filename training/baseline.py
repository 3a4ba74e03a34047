"""The bar to beat on titles alone: TF-IDF word 1-2 + char 3-5 n-grams with a LinearSVC."""

from __future__ import annotations

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_union
from sklearn.svm import LinearSVC


def fit_title_baseline(titles: pd.Series, labels: pd.Series) -> Pipeline:
    vectorizer = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
    )
    return Pipeline([("tfidf", vectorizer), ("svm", LinearSVC())]).fit(titles.fillna(""), labels)
