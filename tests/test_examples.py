"""The example scripts run end to end (short settings) and reach the accuracy they print."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_example(name, *args, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    found = re.findall(r"^test accuracy: ([0-9.]+)$", r.stdout, flags=re.M)
    assert len(found) == 1, r.stdout
    return float(found[0]), r.stdout


def test_logistic_regression_quick():
    accuracy, out = _run_example("logistic_regression.py", "--quick")
    assert re.search(r"^step +50 +cost [0-9.]+ +train accuracy", out, flags=re.M)
    assert accuracy >= 0.9


def test_logistic_regression_more_steps_do_better():
    short, _ = _run_example("logistic_regression.py", "--steps", "2")
    longer, _ = _run_example("logistic_regression.py", "--steps", "100")
    assert short < longer


def test_mlp_digits_quick():
    pytest.importorskip("sklearn")
    accuracy, out = _run_example("mlp_digits.py", "--quick")
    epochs = re.findall(r"^epoch +(\d+) +loss ([0-9.]+) +train accuracy [0-9.]+ +"
                        r"test accuracy [0-9.]+$", out, flags=re.M)
    assert [int(e) for e, _ in epochs] == list(range(1, 9))
    losses = [float(loss) for _, loss in epochs]
    assert losses[-1] < losses[0] / 3  # it learns
    assert accuracy >= 0.88


def test_mlp_digits_epochs_flag():
    pytest.importorskip("sklearn")
    accuracy, out = _run_example("mlp_digits.py", "--epochs", "2", "--batch-size", "64")
    assert len(re.findall(r"^epoch ", out, flags=re.M)) == 2
    assert 0.5 < accuracy


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_quickstart_runs():
    blocks = re.findall(r"```python\n(.*?)```", _readme(), flags=re.S)
    assert blocks, "README.md has no python block"
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    accuracy = float(re.search(r"^accuracy: ([0-9.]+)$", r.stdout, flags=re.M).group(1))
    assert accuracy >= 0.95
    assert "sigmoid [id A]" in r.stdout and "w [id" in r.stdout  # the debugprint of p


def test_readme_setup_commands_and_ci_agree():
    setup = re.search(r"## Set-up\n\n```bash\n(.*?)```", _readme(), flags=re.S).group(1)
    commands = setup.strip().splitlines()
    assert commands == ['pip install -e ".[examples]" && python examples/mlp_digits.py',
                        'pip install -e ".[dev]" && python -m pytest -q']
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci_lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    assert commands[1] in ci_lines
