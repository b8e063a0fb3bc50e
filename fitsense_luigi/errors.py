"""Errors a user can act on.

Every ``FitSenseError`` is printed as one line (no traceback) by the logging
filter in :mod:`fitsense_luigi.logs` and by ``Task.on_failure``: the message
itself must name the file, key or value at fault and say what to do.
Anything else that escapes is a bug and keeps its traceback. Problems found
together (three typos in one params file) travel as one error with one line
per problem (``FitSenseError.problems``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self


class FitSenseError(Exception):
    """Base for errors caused by input, configuration or environment.

    ``permanent``: trying again cannot help until someone acts (a corrupted
    file, a refused key, a failed quality gate), so the task that raised it is
    not retried by Luigi (see ``PipelineTask.run``). Errors that can pass by
    themselves (an error storm at the teacher, an S3 endpoint that stops
    answering) are raised with ``permanent=False`` and keep the scheduler's
    retries.
    """

    permanent: bool = True

    def __init__(self, message: str, *, permanent: bool | None = None, problems: Sequence[str] = ()) -> None:
        # one line, whatever a library put into the text we quote
        super().__init__(_one_line(message))
        self.problems: tuple[str, ...] = tuple(_one_line(p) for p in problems) or (str(self),)
        if permanent is not None:
            self.permanent = permanent

    @classmethod
    def all_of(cls, problems: Sequence[str], **kwargs: Any) -> Self:
        """One error for several problems found together: logged one line per problem (``problems``), and
        one line as a whole (``str``) where only one line fits, e.g. the luigid UI."""
        return cls("; ".join(problems), problems=problems, **kwargs)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class ConfigError(FitSenseError):
    """The params file is unreadable, malformed or inconsistent."""


class RunIdError(FitSenseError):
    """The run id contains characters that cannot name a directory safely."""


class DataRootError(FitSenseError):
    """The data root cannot be created or written."""


class RunConflictError(FitSenseError):
    """An existing run id was asked for with a different configuration."""


class CorruptInputError(FitSenseError):
    """A finished stage's file no longer matches its manifest."""


class MalformedInputError(FitSenseError):
    """An input file holds a row that cannot be parsed."""


class TeacherStageError(FitSenseError):
    """The teacher endpoint cannot serve the stage (auth, quota, error storm)."""


class QualityGateError(FitSenseError):
    """The dataset failed the quality gate and the config says to fail the run."""


class ReferenceDataError(FitSenseError):
    """A packaged reference data file (catalogue, conditions, medications, ...) has a bad entry."""


class ResourceError(FitSenseError):
    """The machine ran out of something a setting bounds (memory for the world's reader, spill space)."""


class CredentialError(FitSenseError):
    """A secret from the environment (the teacher's API key) cannot be used as it is."""


class TeacherBatchesPending(TeacherStageError):
    """Teacher batches are still running when the run's wait (``teacher.batch.wait_s``) is over.

    Nothing is wrong and nothing is lost: the batches are recorded under the
    data root, and a rerun resumes polling them. Permanent in Luigi's sense
    (waiting longer is what ``wait_s`` is for, not a retry two minutes later);
    ``python -m fitsense_luigi`` exits ``[retcode] missing_data`` (20) for it.
    """
