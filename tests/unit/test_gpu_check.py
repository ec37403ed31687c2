"""What ``make gpu-check`` relies on, checked without a GPU: the GPU benchmark's refusal and width
planning, and the closed-form references that tests/test_gpu.py compares 24-qubit GPU runs with."""

from __future__ import annotations

import pytest

from benchmarks import bench_gpu
from tests.refs import exact_expectation, exact_probabilities, w_state

GIB = 2**30


def test_without_a_gpu_the_benchmark_says_why_and_returns_2_writing_nothing(monkeypatch, capsys, tmp_path):
    from parsl_quantum.devices import lightning

    monkeypatch.setattr(lightning, "gpu_unavailable_reason", lambda: "no NVIDIA driver on this machine")
    monkeypatch.setattr(bench_gpu, "write_result", lambda *a, **k: pytest.fail("wrote a result"))
    assert bench_gpu.main([]) == bench_gpu.NO_GPU_STATUS == 2
    err = capsys.readouterr().err
    assert "lightning.gpu is unusable here" in err and "no NVIDIA driver on this machine" in err


@pytest.mark.parametrize(
    ("memory", "widest"),
    [(80 * GIB, 30), (48 * GIB, 30), (48 * GIB - 1, 29), (16 * GIB, 28), (2 * GIB, 25), (48 * 2**20, 20)],
)
def test_widths_stop_where_three_state_vectors_would_not_fit(memory, widest):
    """Three complex128 state vectors of n qubits take 48 * 2**n bytes."""
    fits = [n for n in range(20, 31) if bench_gpu.skip_reason(n, memory, {}, 3, 60.0) is None]
    assert fits == list(range(20, widest + 1))
    if widest < 30:
        reason = bench_gpu.skip_reason(widest + 1, memory, {}, 3, 60.0)
        assert reason.startswith(
            f"3 state vectors of {widest + 1} qubits need {48 * 2 ** (widest + 1) / GIB:g} GiB"
        )


def test_widths_stop_where_the_predicted_run_passes_the_limit_or_the_budget():
    measured = {20: 0.5, 24: 4.0}  # the widest measured width predicts: 4 s at 24, doubling per qubit
    assert bench_gpu.predicted_s(26, measured) == 16.0
    assert bench_gpu.predicted_s(20, {}) is None
    assert bench_gpu.skip_reason(27, 80 * GIB, measured, 3, 60.0) is None  # 32 s
    assert (
        bench_gpu.skip_reason(28, 80 * GIB, measured, 3, 60.0)
        == "predicted 64.0 s a run, over the 60 s limit"
    )
    assert bench_gpu.skip_reason(26, 80 * GIB, measured, 3, 60.0, elapsed_s=253.0, budget_s=300.0) == (
        "3 runs of a predicted 16.0 s would end past the 300 s budget"
    )
    assert bench_gpu.skip_reason(26, 80 * GIB, measured, 3, 60.0, elapsed_s=252.0, budget_s=300.0) is None


@pytest.mark.parametrize("n", [4, 6])
def test_the_closed_form_references_equal_the_statevector(n):
    from tests.test_gpu import chain_expectation, chain_state, observables, w_probabilities

    assert w_probabilities(n) == pytest.approx(exact_probabilities(w_state(n)), abs=1e-12)
    circuit = chain_state(n)
    for observable in observables(n):
        assert chain_expectation(n, observable) == pytest.approx(
            exact_expectation(circuit, observable), abs=1e-12
        )
