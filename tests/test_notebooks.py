"""The notebook series: twins in sync and clean (fast), and every notebook executed with its CI parameters (slow)."""

import json
import re
import shutil
import time

import nbformat
import pytest

from crossclr_lab import notebooks as nbs
from crossclr_lab.lab.findings import check_notebook, notebook_findings, parse_markdown_table
from tools import site_build

NOTEBOOKS = nbs.discover()

TWIN = '''# %% [markdown]
# # 99 — A scratch notebook
#
# **Learning goals**
# 1. One.
# 2. Two.

# %% tags=["parameters"]
size = 3   # how many
interactive = False

# %%
values = list(range(size))
print(sum(values))
'''


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "99_scratch.py").write_text(TWIN, encoding="utf-8")
    return tmp_path


def _problems(folder):
    return nbs.check(nbs.discover(folder), folder)


def test_series_is_present_and_discovered():
    numbers = [nb.number for nb in NOTEBOOKS]
    assert {"03", "04", "05"} <= set(numbers) and numbers == sorted(numbers)
    assert all(nb.py.exists() for nb in NOTEBOOKS)


def test_repository_notebooks_pass_check():
    problems = nbs.check(NOTEBOOKS)
    assert problems == {}, "run `python -m crossclr_lab.notebooks sync`:\n" + nbs._format_problems(problems)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_ci_parameters_exist_in_the_parameters_cell(nb):
    assert nb.number in nbs.CI_PARAMETERS, f"add a small CI parameter set for {nb.name} to CI_PARAMETERS"
    assert set(nbs.parameters_for(nb, "ci")) == set(nbs.CI_PARAMETERS[nb.number])
    assert nbs.parameters_for(nb, "full") == {}


def test_sync_writes_stable_clean_notebooks(folder):
    nb = nbs.discover(folder)[0]
    missing = "99_scratch.ipynb is missing (run: python -m crossclr_lab.notebooks sync)"
    assert _problems(folder) == {"99_scratch": [missing]}
    assert nbs.sync([nb]) == [nb.ipynb]
    first = nb.ipynb.read_bytes()
    assert nbs.sync([nb]) == [] and nb.ipynb.read_bytes() == first          # idempotent, byte for byte
    node = nbformat.reads(first.decode(), as_version=4)
    assert [c.id for c in node.cells] == ["99_scratch-000", "99_scratch-001", "99_scratch-002"]
    assert node.metadata.kernelspec.name == "crossclr-lab"
    assert node.cells[1].metadata.tags == ["parameters"]
    assert _problems(folder) == {}


def test_check_finds_out_of_sync_and_outputs(folder):
    nb = nbs.discover(folder)[0]
    nbs.sync([nb])
    nb.py.write_text(TWIN.replace("print(sum(values))", "print(max(values))"), encoding="utf-8")
    assert any("out of sync" in p for p in _problems(folder)["99_scratch"])
    nbs.sync([nb])
    node = nbformat.read(nb.ipynb, as_version=4)
    node.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    node.cells[2].execution_count = 1
    nbformat.write(node, nb.ipynb)
    problems = _problems(folder)["99_scratch"]
    assert any("has outputs" in p for p in problems) and any("out of sync" in p for p in problems)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(' tags=["parameters"]', ""), "not tagged 'parameters'"),
    (lambda t: t.replace("# # 99", "# 99"), "'# Title'"),
    (lambda t: t.replace("print(sum(values))", "!pip install torch"), "shell escape"),
    (lambda t: t.replace("print(sum(values))", "%pip install torch"), "%pip"),
    (lambda t: t.replace("print(sum(values))", "!wget http://x/y.zip"), "shell escape"),
    (lambda t: t.replace("print(sum(values))", "import subprocess"), "shell-out"),
    (lambda t: t.replace("print(sum(values))", "urllib.request.urlretrieve(url)"), "download"),
    (lambda t: t.replace("# how many", "# how many (size = 3)"), "papermill cannot read"),
])
def test_check_rules(folder, edit, message):
    py = folder / "99_scratch.py"
    py.write_text(edit(TWIN), encoding="utf-8")
    nbs.sync(nbs.discover(folder))
    problems = _problems(folder)
    assert any(message in p for p in problems["99_scratch"]), problems


def test_check_flags_ipynb_without_twin_and_cli_exit_codes(folder, capsys):
    assert nbs.main(["--dir", str(folder), "sync"]) == 0
    assert nbs.main(["--dir", str(folder), "check"]) == 0
    shutil.copy(folder / "99_scratch.ipynb", folder / "98_orphan.ipynb")
    assert nbs.main(["--dir", str(folder), "check"]) == 1
    assert "98_orphan.ipynb" in capsys.readouterr().out
    assert nbs.main(["--dir", str(folder), "run", "--out", str(folder / "out"), "--only", "42"]) == 2
    assert "unknown notebook(s) 42" in capsys.readouterr().err


def test_select_and_parameter_validation(folder, monkeypatch):
    nbs.sync(nbs.discover(folder))
    found = nbs.discover(folder)
    assert nbs.select(found, None) == found and nbs.select(found, ["99"]) == found
    assert nbs.select(found, ["99_scratch"]) == found
    monkeypatch.setitem(nbs.CI_PARAMETERS, "99", {"sise": 1})
    with pytest.raises(ValueError, match="sise"):
        nbs.parameters_for(found[0], "ci")
    with pytest.raises(ValueError, match=r"params must be one of \['ci', 'full'\]"):
        nbs.parameters_for(found[0], "fast")


def test_run_reports_failures_and_wall_times(folder, tmp_path, monkeypatch):
    (folder / "98_broken.py").write_text(TWIN.replace("print(sum(values))", "1 / 0"),
                                         encoding="utf-8")
    found = nbs.discover(folder)
    nbs.sync(found)
    monkeypatch.setitem(nbs.CI_PARAMETERS, "99", {"size": 5})
    lines = []
    entries = nbs.run(found, tmp_path / "out", "ci", log=lines.append)
    assert [e["status"] for e in entries] == ["failed", "ok"]
    assert "ZeroDivisionError" in entries[0]["error"] and len(lines) == 2
    executed = nbformat.read(tmp_path / "out" / "99_scratch.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "10\n"                  # the injected size=5 was used
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [e["notebook"] for e in summary["notebooks"]] == ["98_broken", "99_scratch"]
    assert all(e["wall_time_s"] >= 0 for e in summary["notebooks"])


def _save_in_jupyterlab(root, name):
    """Open ``name`` with jupytext's contents manager (what JupyterLab with jupytext uses), add an answer, save."""
    from jupytext import TextFileContentsManager

    cm = TextFileContentsManager(root_dir=str(root))
    model = cm.get(name)
    model["content"].cells[-1].source += "\n# my answer"
    cm.save(model, name)


def test_saving_a_notebook_in_jupyterlab_leaves_its_twin_alone(folder):
    nbs.sync(nbs.discover(folder))
    twin = (folder / "99_scratch.py").read_text(encoding="utf-8")
    _save_in_jupyterlab(folder, "99_scratch.ipynb")
    assert (folder / "99_scratch.py").read_text(encoding="utf-8") == twin          # the kit's source untouched
    assert "# my answer" in (folder / "99_scratch.ipynb").read_text(encoding="utf-8")
    # what the test guards against: with jupytext's pairing metadata the same save rewrites the twin
    node = nbformat.read(folder / "99_scratch.ipynb", as_version=4)
    node.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(node, folder / "99_scratch.ipynb")
    _save_in_jupyterlab(folder, "99_scratch.ipynb")
    assert (folder / "99_scratch.py").read_text(encoding="utf-8") != twin


def test_copy_makes_a_workspace_the_runner_ignores(folder, tmp_path, capsys, monkeypatch):
    (folder / "NOTATION.md").write_text("symbols\n", encoding="utf-8")
    work = tmp_path / "my_notebooks"
    assert nbs.main(["--dir", str(folder), "copy", str(work)]) == 0
    assert "copied into" in capsys.readouterr().out
    assert sorted(p.name for p in work.iterdir()) == ["99_scratch.ipynb", "NOTATION.md"]
    assert (work / "99_scratch.ipynb").read_text() == nbs.notebook_text(nbs.notebook_from_twin(nbs.discover(folder)[0]))
    _save_in_jupyterlab(work, "99_scratch.ipynb")                               # the learner's answers
    assert nbs.main(["--dir", str(folder), "copy", str(work)]) == 2              # never overwritten
    assert "already exist" in capsys.readouterr().err and "# my answer" in (work / "99_scratch.ipynb").read_text()
    assert nbs.main(["--dir", str(folder), "copy", str(folder)]) == 2
    assert "the kit's notebook folder" in capsys.readouterr().err
    # a copy saved beside the kit's notebooks (JupyterLab's Duplicate) does not stop the runner
    nbs.sync(nbs.discover(folder))
    shutil.copy(work / "99_scratch.ipynb", folder / "99_scratch-Copy1.ipynb")
    monkeypatch.setitem(nbs.CI_PARAMETERS, "99", {"size": 2})
    entries = nbs.run(nbs.discover(folder), tmp_path / "out", "ci", log=lambda line: None)
    assert [(e["notebook"], e["status"]) for e in entries] == [("99_scratch", "ok")]


# notebooks whose results are stated only through computed verdicts (crossclr_lab.lab.findings)
WITH_VERDICTS = {"01", "02", "03", "04", "05", "06", "09"}
PAPER = "https://arxiv.org/abs/2109.14910"


def _tamper(executed, verdict: dict) -> bool:
    """Change, in the displayed table, the cell the verdict's first value claim quotes (True when one was found)."""
    claim = next((c for c in verdict["claims"] if c["value"] is not None), None)
    if claim is None:
        return False
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("crossclr_lab", {})
            if meta.get("kind") == "table" and meta.get("name") == claim["table"]:
                text = output["data"]["text/markdown"]
                row = next(ln for ln in text.splitlines() if ln.strip("| ").startswith(claim["row"]))
                column = list(parse_markdown_table(text)[claim["row"]]).index(claim["column"]) + 2
                cells = row.split("|")
                number = re.search(r"\d+(?:\.(\d+))?", cells[column])
                decimals = len(number.group(1) or "")
                changed = f"{float(number.group(0)) + 50:.{decimals}f}"         # another value, same precision
                cells[column] = cells[column][:number.start()] + changed + cells[column][number.end():]
                output["data"]["text/markdown"] = text.replace(row, "|".join(cells))
                return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_notebook_executes_with_ci_parameters(nb, tmp_path, monkeypatch):
    """Each notebook runs with its CI parameters, renders figures, and every computed verdict agrees with the
    table it shows (a verdict whose table is altered must then fail the same check)."""
    # The kernel inherits the environment. One intra-op thread: the CI models are tiny, and two OpenMP threads
    # on two busy cores run them many times slower than one. The model cache goes to a fresh folder.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CROSSCLR_CACHE", str(tmp_path / "cache"))
    nbs.ensure_kernel()
    start = time.perf_counter()
    parameters = nbs.parameters_for(nb, "ci")
    if nb.number == "06":
        parameters["stand_in_root"] = str(tmp_path / "youcook2_stand_in")
    out = nbs.execute(nb, tmp_path, parameters, timeout_s=300)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any(c.metadata.get("tags") == ["injected-parameters"] for c in executed.cells)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "no figure was rendered (a Figure shown without the inline backend prints only its repr)"
    if nb.number in WITH_VERDICTS:
        tables, verdicts = notebook_findings(executed)
        assert tables and verdicts, "the notebook states its results through displayed tables and verdicts"
        assert check_notebook(executed) == [], "a verdict disagrees with its table"
        assert _tamper(executed, verdicts[0]), "no value claim to tamper with"
        assert check_notebook(executed), "the verdict check did not notice an altered table"
    stray = [o for c in executed.cells for o in c.get("outputs", []) if "Loading weights" in json.dumps(o)]
    assert not stray, "a progress bar was saved in the outputs"
    print(f"{nb.name}: {time.perf_counter() - start:.1f} s")
    # tests/test_site.py builds the site from the CI executions: hand this one to its cache instead of re-running it
    site_build.store(nb, "ci", out, time.perf_counter() - start, "tests/test_notebooks.py (papermill, CI parameters)")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_header_links_the_paper_the_notation_and_the_neighbours(nb):
    """The first cell links the paper, NOTATION.md, the notebook list and the previous/next notebooks."""
    header = nbs.notebook_from_twin(nb).cells[0].source
    assert PAPER in header and "(NOTATION.md)" in header and "(README.md)" in header
    numbers = [n.number for n in NOTEBOOKS]
    links = re.findall(r"\((\d\d_[A-Za-z0-9_]+)\.ipynb\)", header)
    position = numbers.index(nb.number)
    if position > 0:
        assert NOTEBOOKS[position - 1].name in links, f"{nb.name}: no link to the previous notebook"
    if position < len(NOTEBOOKS) - 1:
        assert any(link.startswith(f"{int(nb.number) + 1:02d}_") for link in links), f"{nb.name}: no 'next' link"
    for link in links:       # links into the series exist, except a next notebook still being written
        assert (nbs.NOTEBOOK_DIR / f"{link}.py").exists() or link.startswith(f"{int(nb.number) + 1:02d}_"), link
    assert (nbs.NOTEBOOK_DIR / "NOTATION.md").exists()


def test_notation_page_defines_every_symbol_and_term():
    text = (nbs.NOTEBOOK_DIR / "NOTATION.md").read_text(encoding="utf-8")
    for term in ("τ", "λ", "γ", "κ", "*C<sub>i</sub>*", "*c<sub>i</sub>*", "*w<sub>i</sub>*", "δ", "| queue |",
                 "| influential |", "| false negative |", "| pooled |", "| modality gap |", "| CLDR |", "| MiniLM |",
                 "| COOT |", "| S3D |", PAPER):
        assert term in text, term


def test_ensure_kernel_finds_ours_and_explains_a_missing_one():
    assert nbs.ensure_kernel().endswith(nbs.KERNEL_NAME)
    with pytest.raises(RuntimeError, match="ipykernel install --sys-prefix --name no-such-kernel"):
        nbs.ensure_kernel("no-such-kernel", install=False)


def test_execute_uses_sliced_polling_clients(folder, tmp_path, monkeypatch):
    """papermill's kernel clients must use the sliced-poll channels (a missed zmq wake-up otherwise stalls a
    cell until its timeout, or forever)."""
    used = []
    base = nbs._kernel_manager_class

    def recording():
        class Recording(base()):
            def client(self, **kwargs):
                kc = super().client(**kwargs)
                used.append((kc.shell_channel_class.__name__, kc.iopub_channel_class.__name__))
                return kc
        return Recording

    monkeypatch.setattr(nbs, "_kernel_manager_class", recording)
    nb = nbs.discover(folder)[0]
    nbs.sync([nb])
    nbs.execute(nb, tmp_path, {})
    assert used and set(used) == {("SlicedPollChannel", "SlicedPollChannel")}


def test_sliced_poll_channel_waits_until_its_deadline_and_returns_messages(monkeypatch):
    import asyncio
    from queue import Empty

    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    monkeypatch.setattr(nbs, "POLL_SLICE_S", 0.05)
    km = nbs._kernel_manager_class()(kernel_name=nbs.KERNEL_NAME)
    channel_class = km.client().shell_channel_class

    async def scenario():
        ctx = zmq.asyncio.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        port = a.bind_to_random_port("tcp://127.0.0.1")
        b.connect(f"tcp://127.0.0.1:{port}")
        session = Session()
        channel = channel_class(b, session)
        start = time.perf_counter()
        with pytest.raises(Empty):
            await channel.get_msg(timeout=0.3)
        waited = time.perf_counter() - start
        session.send(a, "kernel_info_request", {})
        msg = await channel.get_msg(timeout=5)
        a.close(0), b.close(0)
        ctx.term()
        return waited, msg["msg_type"]

    waited, msg_type = asyncio.run(scenario())
    assert 0.28 <= waited < 2.0          # many 0.05 s slices, but the caller's 0.3 s deadline holds
    assert msg_type == "kernel_info_request"


def test_every_parameter_has_a_type_papermill_reads():
    """`papermill --help-notebook` lists each parameter with its type, not "Unknown type"."""
    for nb in nbs.discover():
        node = nbformat.read(nb.ipynb, as_version=4)
        cell = next(c for c in node.cells if c.cell_type == "code")
        untyped = [p.name for p in nbs.parameter_specs(cell) if p.inferred_type_name in ("None", "", None)]
        assert not untyped, f"{nb.name}: parameters without a type annotation: {untyped}"
