"""Issue 12, item 9: the notebook runner stops a hanging cell, names failing cells with the partial notebook,
handles an unusable --out, and checks parameter types before running anything."""

import json

import pytest

from crossclr_lab import notebooks as nbs

SCRATCH = '''# %% [markdown]
# # {number} — Scratch

# %% tags=["parameters"]
size = 3   # how many
rate = 0.5
names = ["a", "b"]
interactive = False
root = None

# %%
values = list(range(size))

# %%
{body}
'''


def _notebook(folder, number, body):
    (folder / f"{number}_scratch.py").write_text(SCRATCH.format(number=number, body=body), encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    _notebook(tmp_path, "97", "import time\ntime.sleep(60)")
    _notebook(tmp_path, "98", "print(values)\nraise RuntimeError('broken on purpose')")
    _notebook(tmp_path, "99", "print(sum(values) * rate, names, root)")
    nbs.sync(nbs.discover(tmp_path))
    return tmp_path


def test_hanging_and_failing_cells_are_named_with_the_partial_notebook(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(nbs.CI_PARAMETERS, "99", {"size": 4, "rate": 1, "names": ["x"], "root": "/data"})
    out = tmp_path / "out"
    entries = nbs.run(nbs.discover(folder), out, "ci", log=lambda line: None, cell_timeout_s=3)
    assert [e["status"] for e in entries] == ["failed", "failed", "ok"]
    hang, broken = entries[0]["error"], entries[1]["error"]
    assert hang.startswith("cell 97_scratch-003 (`import time`) did not finish within 3 s")
    assert hang.endswith(f"partial output notebook: {out / '97_scratch.ipynb'}")
    assert broken.startswith("cell 98_scratch-003 (`print(values)`) raised RuntimeError: broken on purpose")
    assert broken.endswith(f"partial output notebook: {out / '98_scratch.ipynb'}")
    assert (out / "97_scratch.ipynb").exists() and (out / "98_scratch.ipynb").exists()
    assert entries[0]["wall_time_s"] < 30
    assert json.loads((out / "summary.json").read_text())["notebooks"][1]["error"] == broken


def test_out_that_is_a_file_is_a_clear_error(folder, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    code = nbs.main(["--dir", str(folder), "run", "--out", str(tmp_path / "a_file"), "--only", "99"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"error: --out {tmp_path / 'a_file'} is a file; pass a folder for the " \
                                        "executed notebooks"


@pytest.mark.parametrize("ci, match", [
    ({"size": "three"}, "size='three' \\(str; the default is 3\\)"),
    ({"size": 2.5}, "size=2.5 \\(float; the default is 3\\)"),
    ({"size": True}, "size=True"),
    ({"interactive": 1}, "interactive=1 \\(int; the default is False\\)"),
    ({"names": "a"}, "names='a'"),
    ({"names": [1]}, "names=\\[1\\]"),
])
def test_wrong_parameter_types_are_refused_before_running(folder, monkeypatch, ci, match):
    monkeypatch.setitem(nbs.CI_PARAMETERS, "99", ci)
    nb = nbs.discover(folder)[2]
    with pytest.raises(ValueError, match="99_scratch: wrong parameter type: " + match):
        nbs.parameters_for(nb, "ci")


def test_right_types_pass(folder):
    nb = nbs.discover(folder)[2]
    ok = {"size": 4, "rate": 1, "names": ["x", "y"], "interactive": True, "root": "/anything"}
    assert nbs.parameters_for(nb, "full", ok) == ok


def test_set_values_are_checked_and_must_exist(folder, capsys):
    code = nbs.main(["--dir", str(folder), "run", "--out", str(folder / "o"), "--only", "99", "--set", "size=two"])
    assert code == 2 and "wrong parameter type: size='two'" in capsys.readouterr().err
    code = nbs.main(["--dir", str(folder), "run", "--out", str(folder / "o"), "--only", "99", "--set", "sise=2"])
    assert code == 2 and "--set sise: not a parameter of the chosen notebooks" in capsys.readouterr().err
    assert nbs.parse_assignment("names=['a', 'b']") == ("names", ["a", "b"])
    assert nbs.parse_assignment("root=/data/yc2") == ("root", "/data/yc2")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        nbs.parse_assignment("size")
