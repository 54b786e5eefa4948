"""Error types, each mapped to one exit code of the CLI contract.

0 pass, 1 gate failed, 2 bad input (spec, data, config, arguments, a monitoring batch that
measures nothing), 3 infrastructure (MLflow unreachable or refusing, an alias pointing at a
version the registry does not hold, a result that cannot be written to a closed stdout),
4 internal error (a bug: the traceback is saved to a file).
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3
EXIT_INTERNAL = 4
MAX_MESSAGE_CHARS = 400  # a message is cut past this; file, line and field are always kept


class PipelineError(Exception):
    """Base class: an error the CLI reports as one line and an exit code."""

    exit_code = EXIT_BAD_INPUT


class BadInput(PipelineError):
    """A spec, data file or configuration is wrong. Names file, line and field."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """`file:line: field: message`, leaving out the parts that are unknown; the message
        (which may quote a cell or a value) is cut to `MAX_MESSAGE_CHARS`."""
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [_cut(p, 200) for p in (where, self.field) if p]
        text = " ".join(self.message.split())
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 20] + f"... ({len(text)} chars)"
        return ": ".join([*parts, text])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class GateFailed(PipelineError):
    """A gate said no: a verdict, not a crash."""

    exit_code = EXIT_GATE_FAILED


class InfraError(PipelineError):
    """MLflow (or another service) could not be reached after retries."""

    exit_code = EXIT_INFRA


class PromotionConflict(InfraError):
    """Another promotion of the same model holds the lease: nothing was changed, retry."""


class StepOrderError(BadInput):
    """A step ran before the step whose output it reads."""
