"""Requirements from ``parsl_resource_specification``: what is accepted, errors that name the key, and why a
pilot cannot serve a task."""

from __future__ import annotations

import math

import pytest
from parsl.executors.errors import InvalidResourceSpecification

from parsl_quantum.executors.requirements import REQUIREMENT_KEYS, Requirements
from tests.unit.helpers import PilotTraitsView

ALL_KINDS = frozenset({"cpu", "gpu", "qpu"})


@pytest.mark.parametrize("spec", [None, {}])
def test_no_specification_means_the_defaults(spec):
    assert Requirements.from_spec(spec) == Requirements()
    assert Requirements() == Requirements(0, ALL_KINDS, None, None, 0, 0.0, None)


def test_every_key_is_parsed_to_its_field():
    spec = {
        "qubits": 7,
        "kinds": ["qpu", "gpu"],
        "pilot": "ibm",
        "shots": 4000,
        "priority": -2,
        "min_fidelity": 1,
        "walltime": 30,
    }
    assert Requirements.from_spec(spec) == Requirements(
        qubits=7,
        kinds=frozenset({"qpu", "gpu"}),
        pilot="ibm",
        shots=4000,
        priority=-2,
        min_fidelity=1.0,
        walltime=30.0,
    )
    assert Requirements.from_spec({"kinds": "gpu"}).kinds == frozenset({"gpu"})  # one kind as a string
    assert Requirements.from_spec({"pilot": None, "shots": None, "walltime": None}) == Requirements()


def test_an_unknown_key_lists_the_accepted_ones():
    with pytest.raises(InvalidResourceSpecification) as info:
        Requirements.from_spec({"qubits": 2, "cores": 4, "memory": 1})
    assert info.value.invalid_keys == {"cores", "memory"}
    assert info.value.message == "the quantum executor accepts only these requirement keys: " + ", ".join(
        sorted(REQUIREMENT_KEYS)
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("qubits", -1, "'qubits' must be a non-negative integer, got -1"),
        ("qubits", 2.0, "'qubits' must be a non-negative integer, got 2.0"),
        ("qubits", True, "'qubits' must be a non-negative integer, got True"),
        ("kinds", [], "'kinds' must be a non-empty subset of"),
        ("kinds", ["cpu", "tpu"], "'kinds' must be a non-empty subset of"),
        ("pilot", 3, "'pilot' must be a pilot name, got 3"),
        ("shots", 0, "'shots' must be a positive integer, got 0"),
        ("shots", False, "'shots' must be a positive integer, got False"),
        ("priority", 1.5, "'priority' must be an integer, got 1.5"),
        ("priority", True, "'priority' must be an integer, got True"),
        ("min_fidelity", 1.01, "'min_fidelity' must be in [0, 1], got 1.01"),
        ("min_fidelity", math.nan, "'min_fidelity' must be in [0, 1], got nan"),
        ("min_fidelity", "high", "'min_fidelity' must be in [0, 1], got 'high'"),
        ("walltime", 0, "'walltime' must be positive seconds, got 0"),
        ("walltime", math.inf, "'walltime' must be positive seconds, got inf"),
        ("walltime", True, "'walltime' must be positive seconds, got True"),
    ],
)
def test_a_bad_value_names_its_key(key, value, message):
    with pytest.raises(InvalidResourceSpecification) as info:
        Requirements.from_spec({key: value})
    assert info.value.invalid_keys == {key}
    assert info.value.message.startswith(message)


@pytest.mark.parametrize("value", [3, None, ["cpu", ["qpu"]]])
def test_kinds_that_are_not_names_name_the_key(value):
    with pytest.raises(InvalidResourceSpecification) as info:
        Requirements.from_spec({"kinds": value})
    assert info.value.invalid_keys == {"kinds"}


def test_a_boolean_fidelity_is_rejected_like_every_other_boolean():
    with pytest.raises(InvalidResourceSpecification):
        Requirements.from_spec({"min_fidelity": True})


# -- eligibility --------------------------------------------------------------------------------------


def test_unmet_by_gives_the_first_reason_a_pilot_cannot_serve_the_task():
    needs = Requirements(qubits=5, kinds=frozenset({"qpu"}), min_fidelity=0.99)
    assert needs.unmet_by(PilotTraitsView("sim", "cpu", 30)) == "kind cpu not in allowed kinds ['qpu']"
    assert needs.unmet_by(PilotTraitsView("small", "qpu", 4)) == "needs 5 qubits, pilot 'small' holds 4"
    assert (
        needs.unmet_by(PilotTraitsView("noisy", "qpu", 127, 0.98))
        == "needs fidelity >= 0.99, pilot 'noisy' has 0.9800"
    )
    assert needs.unmet_by(PilotTraitsView("good", "qpu", 127, 0.995)) is None
    # pinning is checked before anything else
    pinned = Requirements(qubits=50, pilot="good")
    assert pinned.unmet_by(PilotTraitsView("other", "gpu", 1)) == "pinned to pilot 'good'"
    assert pinned.unmet_by(PilotTraitsView("good", "cpu", 64)) is None


def test_a_pilot_that_does_not_know_its_width_or_fidelity_yet_may_serve():
    needs = Requirements(qubits=40, min_fidelity=0.999)
    assert needs.unmet_by(PilotTraitsView("starting", "cpu")) is None
    assert needs.unmet_by(PilotTraitsView("exact", "cpu", 40, 0.999)) is None  # bounds are inclusive


def test_describe_lists_what_differs_from_the_defaults():
    assert Requirements().describe() == "qubits=0"
    described = Requirements(qubits=3, kinds=frozenset({"qpu", "gpu"}), pilot="ibm", min_fidelity=0.9)
    assert described.describe() == "qubits=3, kinds=['gpu', 'qpu'], pilot=ibm, min_fidelity=0.9"
