"""The benchmark runner: a worker times an implementation and cross-checks it against numpy
(a wrong result is caught), and the table gives medians, ratios and met/not-met targets."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))    # the repo root
from benchmarks import run  # noqa: E402
from benchmarks.workloads import WORKLOADS, SoftmaxXent  # noqa: E402


def test_worker_times_and_checks_symgraph_against_numpy():
    res = run.worker("W1", "symgraph", quick=True, reps=2)
    assert res["ok"] is True and len(res["times"]) == 2
    assert all(0 < t < 0.01 for t in res["times"])
    ref = run.worker("W3", "numpy", quick=True, reps=1)
    assert ref["ok"] and ref["note"] == "reference"


def test_worker_catches_a_wrong_result(monkeypatch):
    def wrong(self):
        X, y = self.X, self.y
        return lambda: -np.log(np.exp(X) / np.exp(X).sum(1, keepdims=True))[:, 0].mean()
    monkeypatch.setattr(SoftmaxXent, "symgraph", wrong)
    res = run.worker("W3", "symgraph", quick=True, reps=1)
    assert res["ok"] is False and "differs" in res["note"]


def test_worker_reports_missing_pieces_as_skips(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "jax", None)
    assert "jax" in run.worker("W1", "jax", quick=True, reps=1)["skip"]


def test_table_medians_ratios_targets():
    results = {
        ("W1", "numpy"): {"times": [1e-6, 2e-6, 1e-6], "ok": True, "notes": ["reference"]},
        ("W1", "symgraph"): {"times": [1.2e-6, 1.4e-6, 9e-6], "ok": True, "notes": ["x"]},
        ("W3", "numpy"): {"times": [0.01], "ok": True, "notes": ["reference"]},
        ("W3", "symgraph"): {"times": [0.02], "ok": False, "notes": ["differs"]},
    }
    text, notes = run.table(results, ["W1", "W3"], ["numpy", "symgraph"], quick=True)
    lines = text.splitlines()
    w1 = next(ln for ln in lines if ln.startswith("| W1"))
    cells = [c.strip() for c in w1.split("|")[1:-1]]
    assert cells[2:5] == ["1", "1.4", "1.40"]       # medians in us, then symgraph / numpy
    assert cells[-1] == "met" and cells[-3] == "yes"
    w3 = next(ln for ln in lines if ln.startswith("| W3"))
    assert "NO (differs)" in w3 and w3.rstrip(" |").endswith("n/a")   # no JAX to compare


@pytest.mark.parametrize("key", sorted(WORKLOADS))
def test_every_workload_has_a_numpy_reference_and_title(key):
    wl = WORKLOADS[key]
    assert wl.title and wl.unit in ("s", "ms", "us")
    assert hasattr(wl, "numpy") and "symgraph" in wl.impls
