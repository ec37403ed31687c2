"""Fragment tasks ship a cut template's circuits once and new angles at each step: what a worker keeps
must never give the counts of earlier angles, and what it samples must be what the bound circuits give."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from qiskit.circuit.library import efficient_su2

from parsl_quantum.devices.aer import AerDevice
from parsl_quantum.devices.lightning import LightningDevice
from parsl_quantum.errors import DeviceInputError
from parsl_quantum.executors.pool_guard import ProcessTable
from parsl_quantum.q_dreamer.planning import rewrite
from parsl_quantum.q_dreamer.planning.decompose import cuttable, pauli_terms
from parsl_quantum.q_dreamer.planning.search import CutSearch
from parsl_quantum.q_dreamer.planning.template import CutTemplate, ShippedTemplate, parameter_values

SHOTS = 20_000


def su2(n: int, seed: int):
    qc = efficient_su2(n, entanglement="linear", reps=1)
    angles = np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters)
    return cuttable(qc.assign_parameters(angles))


def template_of(n: int = 6) -> CutTemplate:
    qc = su2(n, 1)
    ops, _ = pauli_terms(["Z" + "I" * (n - 2) + "Z"], n)
    structure = CutSearch(qc, ops, 1234, {}).narrowest(1, n - 1)
    assert structure is not None and structure.widest < n
    return CutTemplate.build(structure, qc)


def indices(template: CutTemplate) -> list[tuple]:
    return [(label, i) for label, runs in template.subexperiments.items() for i in range(len(runs))]


def probabilities(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def assert_same_distribution(a: dict[str, int], b: dict[str, int]) -> None:
    """Two samples of SHOTS shots each agree outcome by outcome within 5 sigma of their difference."""
    pa, pb = probabilities(a), probabilities(b)
    for outcome in set(pa) | set(pb):
        p = (pa.get(outcome, 0.0) + pb.get(outcome, 0.0)) / 2
        sigma = math.sqrt(max(p * (1 - p), 1.0 / SHOTS) * 2 / SHOTS)
        assert abs(pa.get(outcome, 0.0) - pb.get(outcome, 0.0)) <= 5 * sigma, (outcome, pa, pb)


def test_shipped_circuits_sample_what_the_bound_circuits_give_and_new_angles_are_never_served_stale():
    template = template_of()
    chosen = indices(template)
    device = AerDevice("aer", seed_simulator=11)
    reference = AerDevice("aer", seed_simulator=12)
    first, second = parameter_values(su2(6, 1)), parameter_values(su2(6, 2))
    shipped = [template.ship(chosen, values) for values in (first, second)]
    assert shipped[0].key == shipped[1].key and shipped[0].values != shipped[1].values
    assert shipped[0].data is shipped[1].data  # written in QPY once
    for ship, values in zip(shipped, (first, second), strict=True):
        got = rewrite.sample_circuits(ship, [SHOTS] * len(chosen), device=device)
        bound = template.bind(values)
        expected = reference.sample([bound.subexperiments[label][i] for label, i in chosen], shots=SHOTS)
        for a, b in zip(got, expected, strict=True):
            assert_same_distribution(a, b)
    assert len(device._prepared) == 1  # prepared once, bound to the second angles at the second call
    # the two angle sets give different distributions somewhere: the check above could tell them apart
    far = rewrite.sample_circuits(shipped[0], [SHOTS] * len(chosen), device=device)
    near = reference.sample([template.bind(second).subexperiments[lb][i] for lb, i in chosen], shots=SHOTS)
    with pytest.raises(AssertionError):
        for a, b in zip(far, near, strict=True):
            assert_same_distribution(a, b)


def test_a_worker_keeps_a_bounded_number_of_unpacked_templates(monkeypatch):
    template = template_of()
    chosen = indices(template)
    monkeypatch.setattr(rewrite, "UNPACKED_KEPT", 1)
    monkeypatch.setattr(rewrite, "_unpacked", type(rewrite._unpacked)())
    a = template.ship(chosen[:2], parameter_values(su2(6, 1)))
    b = template.ship(chosen[2:4], parameter_values(su2(6, 1)))
    assert rewrite.unpacked_template(a) is rewrite.unpacked_template(a)
    rewrite.unpacked_template(b)
    assert list(rewrite._unpacked) == [b.key]
    assert [qc.name for qc in rewrite.unpacked_template(a)] == [qc.name for qc in a.unpack()]


def test_a_device_that_cannot_bind_as_it_runs_binds_first_and_names_a_missing_angle():
    template = template_of()
    chosen = indices(template)[:2]
    ship = template.ship(chosen, parameter_values(su2(6, 3)))
    assert isinstance(ship, ShippedTemplate) and len(ship) == 2
    lightning = LightningDevice("lightning.qubit", seed=5)
    circuits = ship.unpack()
    got = lightning.sample_assigned(circuits, ship.assignment(), shots=SHOTS)
    bound = template.bind(parameter_values(su2(6, 3)))
    expected = AerDevice("aer", seed_simulator=3).sample(
        [bound.subexperiments[label][i] for label, i in chosen], shots=SHOTS
    )
    for a, b in zip(got, expected, strict=True):
        assert_same_distribution(a, b)
    missing = dict(ship.assignment())
    name = sorted(missing)[0]
    del missing[name]
    for device in (lightning, AerDevice("aer")):
        with pytest.raises(DeviceInputError, match=f"no value for its parameter '{name}'"):
            device.sample_assigned(circuits, missing, shots=10)


def test_the_process_table_is_read_once_and_knows_this_process_and_its_parent():
    table = ProcessTable()
    assert os.getpid() in table.descendants(os.getppid())
    assert os.getpid() in [p.pid for p in table.children(os.getppid())]
