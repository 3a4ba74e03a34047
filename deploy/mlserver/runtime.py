"""MLServer runtime for the product classifier: mlserver-mlflow's runtime with HTTP 400 for bad requests.

mlserver-mlflow 1.7.1 answers 500 when MLflow refuses the input (a missing title, a bad request
param) and pads inputs of different lengths with NaN (a 3-row title beside a 2-row price is
answered as 3 rows, the third without a price). A client error must be a 4xx that names the field,
as ``mlflow models serve`` does; so before the request is decoded, this runtime checks:

- every input has the same number of rows (``shape[0]``) as the others;
- ``title`` is present and sent as text (``BYTES``);
- every other input the signature knows is not sent as a tensor type MLflow cannot read.

MLflow's own refusals during ``predict`` (schema enforcement, the model's param checks) become
400 with MLflow's message; anything else stays a 500. Lives in the MLServer venv/image: imports
mlserver and mlflow only, never the project (the model artifact carries its own code).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_mlflow import MLflowRuntime

#: The input every row needs; the artifact's other inputs are optional.
TITLE = "title"
#: V2 data types MLflow's pandas decoding can give a string column (title, brand, ...).
TEXT_DATATYPES = frozenset({"BYTES"})


def request_errors(payload: InferenceRequest, known_inputs: frozenset[str]) -> list[str]:
    """What is wrong with a V2 request before it is decoded (empty when nothing is)."""
    errors: list[str] = []
    rows = {i.name: (i.shape[0] if i.shape else 0) for i in payload.inputs}
    if len(set(rows.values())) > 1:
        sizes = ", ".join(f"{name} {n}" for name, n in rows.items())
        errors.append(f"inputs must have the same number of rows (shape[0]); got {sizes}")
    by_name = {i.name: i for i in payload.inputs}
    if TITLE not in by_name:
        errors.append(f"input '{TITLE}' is required (the product title, datatype BYTES)")
    elif by_name[TITLE].datatype not in TEXT_DATATYPES:
        errors.append(f"input '{TITLE}' must be text (datatype BYTES), got {by_name[TITLE].datatype}")
    unknown = sorted(set(by_name) - known_inputs)
    if unknown:
        errors.append(f"unknown inputs {unknown}: the model takes {sorted(known_inputs)}")
    return errors


class ProductClassifierRuntime(MLflowRuntime):
    """``MLflowRuntime`` whose client errors are 400 with a reason instead of 500."""

    async def load(self) -> bool:
        loaded = await super().load()
        schema = self._model.metadata.get_input_schema()
        self._known_inputs = frozenset(schema.input_names()) if schema is not None else frozenset({TITLE})
        return loaded

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        errors = request_errors(payload, self._known_inputs)
        if errors:
            raise InferenceError("; ".join(errors))
        try:
            return await super().predict(payload)
        except MlflowException as exc:  # schema enforcement or the model's param checks: the client's input
            raise InferenceError(exc.message) from exc
