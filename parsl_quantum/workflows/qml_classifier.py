"""A variational quantum classifier of two interleaved half-moons (motif: qml_training).

The two classes (labels -1 and +1) are noisy half-circles that interlock, so no straight line separates
them. Each point's two coordinates, scaled to angles, are loaded into two qubits again before every layer
("data re-uploading"), each layer adding trainable ``Rot`` gates and a CNOT; the class is the sign of
``<Z>`` on the first qubit, trained with the squared error against the label.

Training is data-parallel: every minibatch is split into one shard per worker of the Lightning CPU pilot,
each shard's loss and gradient (adjoint method) is a quantum task, and the host averages them and takes
an Adam step. The held-out test set is scored at the end; chance is 50%.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pennylane as qml

from parsl_quantum.configs import local_config
from parsl_quantum.motifs.qml.training import qml_training
from parsl_quantum.providers import PilotDescription
from parsl_quantum.workflows.common import Clock, at_least, loaded, script, verdict

WIRES = 2
MIN_ACCURACY = 0.75  # chance (0.5) plus 5 standard errors of a coin on 100 test points


def moons(samples: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half-moons with Gaussian noise; labels -1 (upper moon) and +1 (lower moon)."""
    upper = samples // 2
    lower = samples - upper
    t_upper = rng.uniform(0, np.pi, upper)
    t_lower = rng.uniform(0, np.pi, lower)
    points = np.concatenate(
        [
            np.c_[np.cos(t_upper), np.sin(t_upper)],
            np.c_[1 - np.cos(t_lower), 0.5 - np.sin(t_lower)],
        ]
    )
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.concatenate([-np.ones(upper), np.ones(lower)])
    order = rng.permutation(samples)
    return points[order], labels[order]


def to_angles(points: np.ndarray) -> np.ndarray:
    """Map the moons' extent (x in [-1, 2], y in [-0.5, 1]) to rotation angles of about [-pi, pi]."""
    return (points - np.array([0.5, 0.25])) * np.array([np.pi / 1.5, np.pi / 0.75])


@qml_training(executors=["quantum"], wires=WIRES, loss="mse", kinds=["cpu"])
def classifier(params, x):
    """Data re-uploading: per layer, the input as RY angles, then trainable rotations and a CNOT."""
    for layer in range(len(params)):
        qml.RY(x[0], wires=0)
        qml.RY(x[1], wires=1)
        qml.Rot(params[layer, 0, 0], params[layer, 0, 1], params[layer, 0, 2], wires=0)
        qml.Rot(params[layer, 1, 0], params[layer, 1, 1], params[layer, 1, 2], wires=1)
        qml.CNOT(wires=[0, 1])
    return qml.expval(qml.PauliZ(0))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=80, help="training points")
    parser.add_argument("--test", type=int, default=100, help="test points")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2, help="workers of the Lightning CPU pilot")
    parser.add_argument("--large", action="store_true", help="400 training points, 5 layers, 20 epochs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.large:
        args.train, args.test, args.layers, args.epochs, args.batch_size = 400, 400, 5, 20, 40
    rng = np.random.default_rng(args.seed)
    x_train, y_train = moons(args.train, args.noise, rng)
    x_test, y_test = moons(args.test, args.noise, rng)
    x_train, x_test = to_angles(x_train), to_angles(x_test)
    params0 = rng.normal(scale=0.5, size=(args.layers, WIRES, 3))

    pilot = PilotDescription(name="cpu", kind="cpu", backend="lightning.qubit", workers=args.workers)
    config = local_config(pilots=[pilot], classical_workers=0)
    executor = config.executors[0]
    with loaded(config):
        clock = Clock()
        since = time.time()
        result = classifier.fit(
            params0,
            x_train,
            y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer="adam",
            learning_rate=args.learning_rate,
            seed=args.seed,
            validation=(x_test, y_test),
        ).result()
        clock.classical_s += result.classical_s
        breakdown = clock.breakdown(executor, since)

    losses = result.epoch_losses
    print(
        f"two moons: {args.train} training and {args.test} test points (noise {args.noise}); "
        f"{WIRES} qubits, {args.layers} re-uploading layers, {params0.size} parameters"
    )
    print(
        f"training: {result.epochs} epochs, {result.steps} steps of {args.batch_size} samples, "
        f"shards per step {min(result.shards)}-{max(result.shards)}"
    )
    print("mean loss per epoch: " + " ".join(f"{loss:.3f}" for loss in losses))
    print(f"train accuracy {result.train_accuracy:.3f}, test accuracy {result.val_accuracy:.3f} (chance 0.5)")
    print(breakdown)
    figures = {
        "train_accuracy": result.train_accuracy,
        "test_accuracy": result.val_accuracy,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "steps": result.steps,
        "shard_tasks": sum(result.shards),
    }
    return verdict(
        figures,
        at_least(
            "QML test accuracy",
            result.val_accuracy,
            MIN_ACCURACY,
            why="chance 0.5",
        ),
    )


if __name__ == "__main__":
    script("parsl_quantum.workflows.qml_classifier")
