"""FitSense distillation-data pipeline.

Importing the package registers every Luigi task, so that
``luigi --module fitsense_luigi BiasSlicing`` finds them.
"""

from fitsense_luigi._version import __version__
from fitsense_luigi.pipeline.tasks import (
    BiasSlicing,
    Bootstrap,
    BuildDistillationDataset,
    CallTeacher,
    ComputeStats,
    DetectAnomalies,
    EvaluateStudent,
    GenerateProfiles,
    GenerateQueries,
    GenerateWorkouts,
    TeacherShard,
    ValidateData,
)

__all__ = [
    "BiasSlicing",
    "Bootstrap",
    "BuildDistillationDataset",
    "CallTeacher",
    "ComputeStats",
    "DetectAnomalies",
    "EvaluateStudent",
    "GenerateProfiles",
    "GenerateQueries",
    "GenerateWorkouts",
    "TeacherShard",
    "ValidateData",
    "__version__",
]
