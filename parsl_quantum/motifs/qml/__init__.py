"""QML training as a motif: ``qml_training`` fits a quantum model's parameters, each step's loss and
gradient averaged over mini-batches run as quantum tasks (:mod:`.training`, :mod:`.loop`)."""

from parsl_quantum.motifs.qml.errors import QMLTrainingError, QMLTrainingInputError
from parsl_quantum.motifs.qml.result import TrainingResult
from parsl_quantum.motifs.qml.training import QMLTrainingApp, qml_training

__all__ = ["QMLTrainingApp", "QMLTrainingError", "QMLTrainingInputError", "TrainingResult", "qml_training"]
