"""Models-from-code entry point of the logged pyfunc (no pickled Python object)."""

import mlflow.models

from pipelines.serving import NeighboursModel

mlflow.models.set_model(NeighboursModel())
