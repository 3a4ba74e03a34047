"""The serving side: the MLflow pyfunc model, its artifact bundle, fallback chain and drift checks.

Importing this package has no side effects; nothing here imports ``training``.
"""

#: Largest batch one ``predict`` call accepts; bigger batches get a clear error (HTTP 400).
MAX_BATCH_ROWS = 100_000
