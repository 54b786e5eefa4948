"""How an MLflow error is read: absent (only MLflow's exact not-found codes) or a failure.

Fail closed: an error that is not one of the not-found codes below is never taken for
"absent"; it becomes InfraError (exit 3) naming the operation and the server.
"""

from __future__ import annotations

import re

from pipelines.errors import InfraError

# MLflow's code for an entity that does not exist (model, version, run, experiment).
NOT_FOUND_CODE = "RESOURCE_DOES_NOT_EXIST"
# A missing alias is INVALID_PARAMETER_VALUE with this message (sqlalchemy and REST stores).
_MISSING_ALIAS = re.compile(r"Registered model alias \S+ not found", re.IGNORECASE)
ALREADY_EXISTS_CODE = "RESOURCE_ALREADY_EXISTS"


def error_code(exc: BaseException) -> str:
    """MLflow's error code of an exception ('' for anything that is not an MlflowException)."""
    return str(getattr(exc, "error_code", "") or "")


def is_absent(exc: BaseException) -> bool:
    """True only for MLflow's exact not-found answers."""
    code = error_code(exc)
    if code == NOT_FOUND_CODE:
        return True
    return code == "INVALID_PARAMETER_VALUE" and bool(_MISSING_ALIAS.search(str(exc)))


def already_exists(exc: BaseException) -> bool:
    """True for MLflow's answer to creating a name that is taken."""
    return error_code(exc) == ALREADY_EXISTS_CODE


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text, at most 300 characters."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__


def infra_failure(operation: str, server: str, exc: BaseException) -> InfraError:
    """One line: the operation, the server and MLflow's answer."""
    code = error_code(exc)
    what = f"{code}: " if code else f"{type(exc).__name__}: "
    return InfraError(f"MLflow {operation} failed at {server}: {what}{first_line(exc)}")
