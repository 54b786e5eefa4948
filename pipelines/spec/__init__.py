"""The model spec: load, validate, errors with file:line, JSON schema."""

from pipelines.spec.loader import LoadedSpec, load_spec
from pipelines.spec.model import Spec

__all__ = ["LoadedSpec", "Spec", "load_spec"]
