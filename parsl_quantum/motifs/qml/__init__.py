"""QML training as a motif: ``qml_training`` fits a quantum model's parameters, each step's loss and
gradient computed by shard tasks on the pilots and averaged on the host (:mod:`.training`, :mod:`.loop`,
:mod:`.averaging`)."""

from parsl_quantum.motifs.qml.errors import QMLTrainingError, QMLTrainingInputError
from parsl_quantum.motifs.qml.result import TrainingResult
from parsl_quantum.motifs.qml.training import QMLTrainingApp, qml_training

__all__ = ["QMLTrainingApp", "QMLTrainingError", "QMLTrainingInputError", "TrainingResult", "qml_training"]
