"""Models-from-code entry point: MLflow executes this file to obtain the python model."""

import mlflow

from pyfunc_model.model import ProductClassifierModel

mlflow.models.set_model(ProductClassifierModel())
