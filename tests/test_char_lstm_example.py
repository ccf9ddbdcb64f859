"""examples/char_lstm.py: the scan LSTM learns its text in the --quick setting, and an
untrained model (zero learning rate) stays at the uniform baseline, so the bound can fail."""
import ast
import math
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "char_lstm.py")


def _run(*args, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, f"char_lstm.py failed:\n{r.stdout}\n{r.stderr}"
    out = r.stdout
    vocab = int(re.search(r"^text: \d+ characters, vocabulary of (\d+) ", out, flags=re.M).group(1))
    steps = [(int(k), float(nats), float(bits)) for k, nats, bits in re.findall(
        r"^step +(\d+) +loss ([0-9.]+) nats/char +([0-9.]+) bits/char$", out, flags=re.M)]
    final = re.findall(r"^final loss: (\d+\.\d{3})$", out, flags=re.M)
    assert len(final) == 1, out
    assert out.rstrip().splitlines()[-1].startswith("final loss: "), out
    for kind in ("greedy", "sampled"):
        line = re.search(rf"^{kind}: +(.*)$", out, flags=re.M)
        assert line is not None, out
        sample = ast.literal_eval(line.group(1))  # printed with repr
        assert sample.startswith("Alice ") and len(sample) == 6 + 80, out
    return vocab, steps, float(final[0]), out


def test_quick_run_learns():
    vocab, steps, final, out = _run("--quick")
    assert vocab == 42  # the embedded paragraph's distinct characters
    assert len(steps) == 10, out
    assert [k for k, _, _ in steps] == sorted(k for k, _, _ in steps)
    for _, nats, bits in steps:
        assert math.isclose(bits, nats / math.log(2), abs_tol=2e-3)
    losses = np.array([nats for _, nats, _ in steps])
    assert losses[0] < 1.0 * math.log(vocab)  # already learning during the first tenth
    assert np.all(np.diff(losses) < 0), losses  # every reported window better than the last
    assert losses[-1] < 0.5 * losses[0], losses
    assert final < 0.6 * math.log(vocab), out  # measured about 1.07 against log(42) = 3.74


def test_untrained_model_fails_the_bound():
    # Zero learning rate: the same script and bound, no learning; the loss stays near log(vocab).
    vocab, steps, final, out = _run("--quick", "--lr", "0", "--steps", "4", "--seed", "3")
    assert [k for k, _, _ in steps] == [1, 2, 3, 4], out
    assert final > 0.95 * math.log(vocab), out
    assert not final < 0.6 * math.log(vocab)
    losses = [nats for _, nats, _ in steps]
    assert max(losses) - min(losses) < 0.05, losses  # nothing changes but the minibatch
