"""How a task's call is serialised for a worker: arguments by the C pickler where that is safe, by Parsl's
dill where only dill can ship them, and always read back by Parsl's own ``unpack_apply_message``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from parsl.serialize import deserialize, unpack_apply_message
from qiskit import QuantumCircuit

from parsl_quantum.executors.serialization import PickledArguments, pack_call, serialize_arguments
from parsl_quantum.q_dreamer.planning.plan import run_whole

PICKLED = PickledArguments().identifier


def header(buffer: bytes) -> bytes:
    return buffer.split(b"\n", 1)[0]


def test_a_circuit_travels_by_the_c_pickler_and_comes_back_equal():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(0.3, 2)
    assert PICKLED == b"parsl_quantum.executors.serialization PickledArguments"
    assert header(serialize_arguments((qc, ["ZZZ"], 4096))) == PICKLED
    func, args, kwargs = unpack_apply_message(pack_call(run_whole, (qc, ["ZZZ"], 4096), {"seed": 7}))
    assert func is run_whole
    assert args[0] == qc and args[1:] == (["ZZZ"], 4096)
    assert kwargs == {"seed": 7}


def test_what_only_dill_can_ship_goes_by_dill():
    def local(x):
        return x + 1

    buffer = serialize_arguments((lambda x: 2 * x, local))
    assert header(buffer) == b"02"  # Parsl's DillSerializer
    _, args, kwargs = unpack_apply_message(pack_call(run_whole, (lambda x: 2 * x,), {"f": local}))
    assert args[0](3) == 6 and kwargs["f"](3) == 4


def test_a_class_of_the_users_script_is_shipped_by_value_not_named(monkeypatch):
    """``pickle`` would write ``__main__.Point``, which a worker running another ``__main__`` cannot find:
    such arguments go by dill, which ships the class itself."""
    main = sys.modules["__main__"]

    class Point:
        def __init__(self, x: float) -> None:
            self.x = x

    Point.__module__ = "__main__"
    Point.__qualname__ = Point.__name__ = "PointOfTheScript"
    monkeypatch.setattr(main, "PointOfTheScript", Point, raising=False)
    buffer = serialize_arguments((Point(2.5),))
    assert header(buffer) == b"02"
    monkeypatch.delattr(main, "PointOfTheScript")  # as on a worker, where the script is not __main__
    (point,) = deserialize(buffer)
    assert point.x == 2.5


def test_arrays_and_counts_round_trip_exactly():
    values = (np.arange(6.0).reshape(2, 3), [{"01": 3, "10": 5}], {"shots": np.int64(9)})
    buffer = serialize_arguments(values)
    assert header(buffer) == PICKLED
    back = deserialize(buffer)
    assert np.array_equal(back[0], values[0]) and back[1] == values[1] and back[2] == values[2]


def test_an_argument_no_serialiser_can_ship_names_its_error():
    with pytest.raises(TypeError, match="generator"):
        serialize_arguments(
            (i for i in range(3)),
        )
