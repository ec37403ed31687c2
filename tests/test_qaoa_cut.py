"""The distribution mini-app: QAOA MaxCut on a graph wider than the pilot, the cut read from the most
likely bit strings of the cut circuit's distribution, checked against brute force."""

from __future__ import annotations

import pytest

from parsl_quantum.workflows import qaoa_cut
from tests.test_workflows import judged

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def run_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run's runinfo/ goes to a fresh directory


def test_qaoa_cut_reads_a_maximum_cut_from_the_distribution(capsys):
    result = judged(
        qaoa_cut,
        capsys,
        "QAOA cut from the distribution, ratio to brute force",
        "QAOA expected cut ratio",
        "runs whole",
    )
    assert result["cut_every_step"] and result["max_cut"] == 17
    assert result["ratio"] >= qaoa_cut.MIN_RATIO
    assert result["bit_strings"] > 1000  # the distribution of 12 bits, sparse over those seen
