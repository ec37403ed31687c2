"""The checkpoint of a ``variational`` optimisation: every evaluation, in a JSON file, to resume from.

Restarted with the same arguments, the optimizer replays the recorded evaluations without running them
(scipy's methods are deterministic given the same values) and goes on from the last one. The file is
written readable by its owner only, through a temporary file, so a crash never leaves half of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parsl_quantum.motifs.private_files import write_private


class CheckpointMismatchError(ValueError):
    """A checkpoint file written for a different problem (method, starting point or size)."""


@dataclass
class Checkpoint:
    """Evaluations recorded in a JSON file, keyed by the exact parameter values."""

    path: str | None
    signature: dict[str, Any]
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | None, signature: dict[str, Any]) -> Checkpoint:
        checkpoint = cls(path, signature)
        if path and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            if saved.get("signature") != signature:
                raise CheckpointMismatchError(
                    f"checkpoint {path} was written for {saved.get('signature')}, not {signature}; "
                    "remove it or use another path"
                )
            checkpoint.evaluations = saved["evaluations"]
        return checkpoint

    @staticmethod
    def key(x: np.ndarray) -> str:
        return ",".join(repr(float(v)) for v in x)

    def get(self, x: np.ndarray) -> dict[str, Any] | None:
        return self.evaluations.get(self.key(x))

    def put(self, x: np.ndarray, value: float, gradient: np.ndarray | None) -> None:
        self.evaluations[self.key(x)] = {
            "value": value,
            "gradient": None if gradient is None else [float(g) for g in gradient],
        }
        if self.path:  # owner-only, and atomic: a crash never leaves half a file
            write_private(
                self.path, json.dumps({"signature": self.signature, "evaluations": self.evaluations})
            )
