"""Acceptance check (issue 7): the convnet example reaches >= 90% test accuracy on digits."""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "convnet_digits.py")
EPOCH_LINE = re.compile(r"^epoch +(\d+) +loss ([0-9.]+) +train accuracy ([0-9.]+) +"
                        r"test accuracy ([0-9.]+)$", flags=re.M)


def _run(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, f"convnet_digits.py {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    found = re.findall(r"^test accuracy: ([0-9.]+)$", r.stdout, flags=re.M)
    assert len(found) == 1, r.stdout
    assert r.stdout.rstrip().splitlines()[-1].startswith("test accuracy: "), r.stdout
    epochs = [(int(e), float(loss), float(tr), float(te))
              for e, loss, tr, te in EPOCH_LINE.findall(r.stdout)]
    return float(found[0]), epochs, r.stdout


def test_convnet_digits_quick_reaches_90_percent():
    accuracy, epochs, out = _run("--quick")
    assert accuracy >= 0.90, out
    assert [e[0] for e in epochs] == list(range(1, len(epochs) + 1)) and len(epochs) >= 1, out
    losses = [e[1] for e in epochs]
    assert losses[-1] < losses[0], out            # training lowers the loss
    assert epochs[-1][2] >= 0.90, out             # and fits the training set
    assert epochs[-1][3] == pytest.approx(accuracy, abs=1e-4), out


def test_convnet_digits_epochs_and_seed():
    first, epochs, out = _run("--epochs", "2", "--seed", "7")
    assert [e[0] for e in epochs] == [1, 2], out
    second, epochs_again, _ = _run("--epochs", "2", "--seed", "7")
    assert epochs_again == epochs and second == first  # the seed fixes the whole run
    assert 0.0 <= first <= 1.0
