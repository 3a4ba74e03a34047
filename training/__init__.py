"""Training: data loading, model fitting, evaluation and logging. Never imported when serving."""
