"""symgraph.config: floatX, SYMGRAPH_FLAGS, change_flags, and clear errors for bad flags."""
import os
import subprocess
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import change_flags, config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_python(code, **env_extra):
    """Run `code` in a fresh interpreter that imports this checkout of symgraph."""
    env = dict(os.environ)
    env.pop("SYMGRAPH_FLAGS", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_defaults():
    assert config.floatX == "float64"
    assert config.device == "cpu"
    assert config.mode in ("FAST_RUN", "FAST_COMPILE", "py", "DebugMode")
    assert isinstance(config.compiledir, str) and config.compiledir


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_floatx_sets_constructor_dtypes_and_python_floats(floatx):
    with change_flags(floatX=floatx):
        for make in (T.scalar, T.vector, T.matrix, T.row, T.col, T.tensor3, T.tensor4,
                     T.tensor5):
            assert make().dtype == floatx
        x, y = T.matrices("x", "y")
        assert x.dtype == y.dtype == floatx
        assert T.tensor(shape=(None, 3)).dtype == floatx
        assert T.constant(1.5).dtype == floatx
        assert T.as_tensor_variable(2.5).dtype == floatx
        # a Python float keeps the dtype of a float32 operand whatever floatX is
        f32 = T.fvector("f32")
        assert (f32 * 1.5).dtype == "float32"
        v = T.vector("v")
        assert (v * 0.1).dtype == floatx
        # int / int gives floatX (Theano's rule)
        a, b = T.iscalars("a", "b")
        q = a / b
        assert q.dtype == floatx
        out = symgraph.function([a, b], q, mode="py")(7, 2)
        assert out.dtype == np.dtype(floatx) and out == 3.5
        # the explicitly typed constructors do not follow floatX
        assert T.dvector().dtype == "float64" and T.fvector().dtype == "float32"


def test_floatx_float32_function_accepts_python_floats():
    with change_flags(floatX="float32"):
        x = T.scalar("x")
        f = symgraph.function([x], x * 2, mode="py")
        out = f(0.1)  # Python floats may always become floatX
        assert out.dtype == np.float32
        assert out == np.float32(0.1) * 2


def test_change_flags_as_context_restores_on_exit_and_on_error():
    assert config.floatX == "float64"
    with change_flags(floatX="float32") as cfg:
        assert cfg is config and config.floatX == "float32"
        with change_flags(floatX="float64", exception_verbosity="high"):
            assert config.floatX == "float64" and config.exception_verbosity == "high"
        assert config.floatX == "float32" and config.exception_verbosity == "low"
    assert config.floatX == "float64"
    with pytest.raises(RuntimeError):
        with change_flags(floatX="float32"):
            raise RuntimeError("boom")
    assert config.floatX == "float64"


def test_change_flags_through_the_config_object_as_the_api_spells_it():
    with symgraph.config.change_flags(floatX="float32", alloc_cache_mb="16") as cfg:
        assert cfg is config and config.floatX == "float32" and config.alloc_cache_mb == 16
    assert config.floatX == "float64" and config.alloc_cache_mb == 256


def test_change_flags_as_decorator():
    @change_flags(floatX="float32")
    def make():
        return T.vector().dtype, config.floatX

    assert make() == ("float32", "float32")
    assert make() == ("float32", "float32")  # usable more than once
    assert config.floatX == "float64"


def test_assignment_is_checked():
    old = config.exception_verbosity
    try:
        config.exception_verbosity = "high"
        assert config.exception_verbosity == "high"
    finally:
        config.exception_verbosity = old
    with pytest.raises(ValueError, match=r"config.floatX must be one of \['float32', "
                                         r"'float64'\], got 'float16'"):
        config.floatX = "float16"
    with pytest.raises(ValueError, match="config.mode must be one of"):
        config.mode = "FASTEST"
    with pytest.raises(ValueError, match="config.quiet: expected a boolean, got 'maybe'"):
        config.quiet = "maybe"
    assert config.floatX == "float64"


def test_boolean_flags_take_strings():
    with change_flags(quiet="yes"):
        assert config.quiet is True
    with change_flags(quiet="0"):
        assert config.quiet is False


def test_unknown_flag_names_are_refused_clearly():
    with pytest.raises(AttributeError, match="no flag 'floatx'.*flags are .*'floatX'"):
        config.floatx = "float32"
    with pytest.raises(AttributeError, match="no flag 'nosuch'"):
        config.nosuch  # noqa: B018
    with pytest.raises(AttributeError, match="no flag 'florp'"):
        change_flags(florp=1)
    with pytest.raises(ValueError, match="config.floatX must be one of"):
        change_flags(floatX="int32")
    assert "floatX" in dir(config)
    assert "floatX = 'float64'" in repr(config)


def test_flag_string_parsing_in_process():
    cfg = type(config)()  # a fresh Config, so the global one is left alone
    cfg.apply_flag_string(" floatX = float32 , mode=py,,exception_verbosity=high")
    assert (cfg.floatX, cfg.mode, cfg.exception_verbosity) == ("float32", "py", "high")
    with pytest.raises(ValueError, match="SYMGRAPH_FLAGS: expected name=value, got 'floatX'"):
        cfg.apply_flag_string("floatX")
    with pytest.raises(ValueError, match="SYMGRAPH_FLAGS: symgraph.config has no flag 'colour'"):
        cfg.apply_flag_string("colour=red")


def test_symgraph_flags_environment_variable():
    code = ("import symgraph, symgraph.tensor as T; c = symgraph.config; "
            "print(c.floatX, c.mode, c.exception_verbosity, T.matrix().dtype, "
            "T.constant(0.5).dtype)")
    r = _run_python(code, SYMGRAPH_FLAGS="floatX=float32, mode=py,exception_verbosity=high")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float32", "py", "high", "float32", "float32"]


@pytest.mark.parametrize(
    "flags, message",
    [
        ("floatX=float16", "SYMGRAPH_FLAGS: config.floatX must be one of"),
        ("nosuchflag=1", "SYMGRAPH_FLAGS: symgraph.config has no flag 'nosuchflag'"),
        ("floatX", "SYMGRAPH_FLAGS: expected name=value, got 'floatX'"),
    ],
)
def test_bad_symgraph_flags_fail_at_import_with_a_clear_message(flags, message):
    r = _run_python("import symgraph", SYMGRAPH_FLAGS=flags)
    assert r.returncode != 0
    assert message in r.stderr


def test_compiledir_from_the_environment(tmp_path):
    r = _run_python("import symgraph; print(symgraph.config.compiledir)",
                    SYMGRAPH_COMPILEDIR=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path)
