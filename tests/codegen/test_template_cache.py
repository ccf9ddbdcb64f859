"""Kernel templates compiled once per machine (symgraph/codegen/cbackend.py `templates`):
a fresh environment loads them without compiling, an edited template is compiled again, and
an unwritable template folder falls back to the compiledir."""
import os
import shutil

import jinja2
import pytest

import symgraph
from symgraph.codegen import cbackend


@pytest.fixture
def kernels_copy(tmp_path, monkeypatch):
    """A private copy of kernels/ and a fresh environment over it."""
    copy = tmp_path / "kernels"
    shutil.copytree(cbackend.kernels_dir(), copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cbackend, "kernels_dir", lambda: str(copy))
    monkeypatch.setattr(cbackend, "_env", None)
    return copy


def _compiles(monkeypatch):
    calls = []
    real = jinja2.Environment.compile

    def counted(self, *args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    return calls


def test_a_fresh_environment_loads_compiled_templates(kernels_copy, monkeypatch):
    calls = _compiles(monkeypatch)
    first = cbackend.render("prelude", ints=[("int64_t", True)], floats=["double"])
    assert calls == ["c/prelude.c.j2"]
    assert list((kernels_copy / "__pycache__").glob("*.jinja2.cache"))
    monkeypatch.setattr(cbackend, "_env", None)              # as a new process
    again = cbackend.render("prelude", ints=[("int64_t", True)], floats=["double"])
    assert again == first and calls == ["c/prelude.c.j2"]


def test_an_edited_template_is_compiled_again(kernels_copy, monkeypatch):
    calls = _compiles(monkeypatch)
    cbackend.render("prelude", ints=[], floats=[])
    path = kernels_copy / "c" / "prelude.c.j2"
    path.write_text(path.read_text() + "/* edited */\n")
    monkeypatch.setattr(cbackend, "_env", None)
    assert cbackend.render("prelude", ints=[], floats=[]).endswith("/* edited */\n")
    assert calls == ["c/prelude.c.j2", "c/prelude.c.j2"]


def test_an_unwritable_template_folder_uses_the_compiledir(kernels_copy, tmp_path,
                                                           monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if "__pycache__" in str(p)
                        else real_access(p, mode))
    with symgraph.config.change_flags(compiledir=str(tmp_path / "cd")):
        cbackend.render("prelude", ints=[], floats=[])
        assert list((tmp_path / "cd" / "templates").glob("*.jinja2.cache"))
