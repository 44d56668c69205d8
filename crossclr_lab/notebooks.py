"""The notebook series: run it headlessly (papermill), keep ``.ipynb`` files in sync with their ``.py`` twins.

Each notebook ``notebooks/NN_name.ipynb`` is generated from its jupytext percent-format twin
``notebooks/NN_name.py`` (the file to edit and review). Commands::

    python -m crossclr_lab.notebooks sync                       # .py -> .ipynb, outputs cleared, stable cell ids
    python -m crossclr_lab.notebooks check                      # non-zero exit when a notebook breaks the rules
    python -m crossclr_lab.notebooks run --out runs/notebooks   # execute the series (CI parameters)
    python -m crossclr_lab.notebooks run --out runs/nb --params full --only 03 05

``--params ci`` injects the small parameter sets of :data:`CI_PARAMETERS` (one dict per notebook number);
``--params full`` runs each notebook's own defaults, the full experience.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crossclr_lab.utils import atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "crossclr-lab"
KERNEL_DISPLAY_NAME = "Python (crossclr-lab)"
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
TWIN_FORMAT = "py:percent"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+$")

# Small parameter sets for CI (2 cores): keyed by notebook number, names must exist in its `parameters` cell.
# The notebooks' own defaults are the full experience (`--params full`).
CI_PARAMETERS: dict[str, dict] = {
    "01": {"epochs": 2},
    "02": {"train_epochs": 1, "interactive": True},
    "03": {"seeds": [0, 1], "epochs": 2, "losses": ["crossclr", "infonce", "dcl"], "ablation": True,
           "data_root": None},
    "04": {"epochs": 2, "max_points": 150, "n_neighbors": 10, "interactive": True},
    "05": {"epochs": 2, "max_k": 50, "interactive": True},
    "08": {"seeds": [0], "epochs": 1, "weight_epochs": 1},
}

# Lines that shell out, install or download: they break papermill, offline use and reproducibility.
FORBIDDEN = [
    (re.compile(r"^\s*!"), "shell escape (!cmd)"),
    (re.compile(r"^\s*%+\s*(pip|conda|mamba)\b"), "%pip/%conda install"),
    (re.compile(r"^\s*%%?\s*(bash|sh|script|system|sx)\b"), "shell magic"),
    (re.compile(r"\b(subprocess|os\.system|os\.popen)\b"), "shell-out from Python"),
    (re.compile(r"\b(urllib\.request|requests\.get|urlretrieve|wget)\b"), "download"),
]


@dataclass(frozen=True)
class Notebook:
    """One notebook of the series: ``number`` ("03"), ``name`` ("03_training"), its twin and its .ipynb."""

    number: str
    name: str
    py: Path
    ipynb: Path


def discover(notebook_dir: str | os.PathLike = NOTEBOOK_DIR) -> list[Notebook]:
    """Every ``NN_*.py`` percent twin in ``notebook_dir``, ordered by number."""
    folder = Path(notebook_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebook folder at {folder}")
    found = []
    for py in sorted(folder.glob("[0-9][0-9]_*.py")):
        match = NOTEBOOK_PATTERN.match(py.stem)
        if match:
            found.append(Notebook(match.group(1), py.stem, py, py.with_suffix(".ipynb")))
    numbers = [nb.number for nb in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"notebook numbers must be unique in {folder}; duplicated: {', '.join(duplicates)}")
    return found


def select(notebooks: list[Notebook], only: list[str] | None) -> list[Notebook]:
    """The notebooks whose number or name is in ``only`` (all when ``only`` is empty/None)."""
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if nb.number in only or nb.name in only]
    unknown = [o for o in only if not any(o in (nb.number, nb.name) for nb in notebooks)]
    if unknown:
        raise ValueError(f"unknown notebook(s) {', '.join(unknown)}; available: "
                         f"{', '.join(nb.number for nb in notebooks) or '(none)'}")
    return chosen


# -- sync ----------------------------------------------------------------------------------------------------------
def cell_id(notebook_name: str, index: int) -> str:
    """A stable cell id from the notebook's name and the cell's position (``03_training-007``)."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", notebook_name)[:56]
    return f"{slug}-{index:03d}"


def notebook_from_twin(nb: Notebook):
    """The ``.ipynb`` content (a ``nbformat`` node) generated from ``nb.py``: no outputs, stable ids, our kernel."""
    import jupytext
    import nbformat

    node = jupytext.read(nb.py, fmt=TWIN_FORMAT)
    node.nbformat, node.nbformat_minor = 4, 5
    node.metadata = nbformat.from_dict({"jupytext": {"formats": f"ipynb,{TWIN_FORMAT}"}, "kernelspec": KERNELSPEC,
                                        "language_info": {"name": "python"}})
    for i, cell in enumerate(node.cells):
        cell.id = cell_id(nb.name, i)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(node)
    return node


def notebook_text(node) -> str:
    """The exact text an ``.ipynb`` is written with (so ``check`` can compare bytes)."""
    import nbformat

    return nbformat.writes(node) + "\n"


def sync(notebooks: list[Notebook]) -> list[Path]:
    """Regenerate every ``.ipynb`` from its twin (atomically); returns the files that changed."""
    changed = []
    for nb in notebooks:
        text = notebook_text(notebook_from_twin(nb))
        if not nb.ipynb.exists() or nb.ipynb.read_text(encoding="utf-8") != text:
            atomic_write_text(nb.ipynb, text)
            changed.append(nb.ipynb)
    return changed


# -- check ---------------------------------------------------------------------------------------------------------
def assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of a cell's ``source`` (what a parameters cell defines)."""
    import ast

    names = []
    for stmt in ast.parse(source).body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def parameter_specs(cell) -> list:
    """The parameters papermill reads from a ``parameters`` cell (``papermill.translators.Parameter`` tuples)."""
    import contextlib
    import io

    from papermill.translators import PythonTranslator

    with contextlib.redirect_stdout(io.StringIO()):  # papermill prints each line it cannot parse
        return PythonTranslator.inspect(cell)


def lint_node(node) -> list[str]:
    """Rule violations of a notebook's content (independent of its twin)."""
    problems = []
    code = [c for c in node.cells if c.cell_type == "code"]
    if not node.cells or node.cells[0].cell_type != "markdown" or not node.cells[0].source.lstrip().startswith("# "):
        problems.append("the first cell must be markdown starting with a '# Title'")
    if not code:
        problems.append("has no code cells")
    elif "parameters" not in code[0].metadata.get("tags", []):
        problems.append("the first code cell is not tagged 'parameters' (in the .py twin: `# %% tags=[\"parameters\"]`)")
    else:
        try:
            unparsed = sorted(set(assigned_names(code[0].source)) - {p.name for p in parameter_specs(code[0])})
        except SyntaxError as err:
            unparsed = []
            problems.append(f"the parameters cell is not valid Python: {err}")
        if unparsed:
            problems.append(f"papermill cannot read the parameters {unparsed} (one `name = value  # comment` per "
                            "line, with no '=' inside the comment)")
    for i, cell in enumerate(node.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"cell {i} has outputs or an execution count (commit notebooks cleared: run sync)")
        for line in cell.source.splitlines():
            for pattern, what in FORBIDDEN:
                if pattern.search(line):
                    problems.append(f"cell {i}: {what} is not allowed: {line.strip()!r}")
    return problems


def check(notebooks: list[Notebook], notebook_dir: str | os.PathLike = NOTEBOOK_DIR) -> dict[str, list[str]]:
    """``{notebook file: [problems]}`` for notebooks that break the rules (empty dict = all good).

    Rules: each ``NN_*.py`` twin has an ``.ipynb`` identical to what ``sync`` writes (so no outputs, stable
    ids, the ``crossclr-lab`` kernel); no ``.ipynb`` without a twin; a '# Title' first cell; the first code
    cell tagged ``parameters``; no shell escapes, installs or downloads.
    """
    import nbformat

    problems: dict[str, list[str]] = {}
    twins = {nb.ipynb for nb in notebooks}
    for path in sorted(Path(notebook_dir).glob("*.ipynb")):
        if path not in twins:
            problems[path.name] = [f"has no .py percent twin (create {path.stem}.py; the .ipynb is generated from it)"]
    for nb in notebooks:
        found = []
        try:
            expected = notebook_from_twin(nb)
        except Exception as err:  # a twin jupytext or nbformat cannot read: report it, keep checking the others
            problems[nb.py.name] = [f"cannot be converted: {type(err).__name__}: {err}"]
            continue
        found += lint_node(expected)
        if not nb.ipynb.exists():
            found.append(f"{nb.ipynb.name} is missing (run: python -m crossclr_lab.notebooks sync)")
        else:
            text = nb.ipynb.read_text(encoding="utf-8")
            if text != notebook_text(expected):
                on_disk = nbformat.reads(text, as_version=4)
                found += [p for p in lint_node(on_disk) if "outputs" in p]
                found.append(f"{nb.ipynb.name} is out of sync with {nb.py.name} "
                             "(run: python -m crossclr_lab.notebooks sync)")
        if found:
            problems[nb.name] = found
    return problems


# -- kernel and run ------------------------------------------------------------------------------------------------
def ensure_kernel(name: str = KERNEL_NAME, install: bool = True) -> str:
    """Make sure the Jupyter kernel ``name`` exists (registering this environment's Python under
    ``sys.prefix`` when missing and ``install`` is True); returns the kernel's resource directory."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        if not install:
            raise RuntimeError(f"Jupyter kernel {name!r} is not registered; run: {sys.executable} -m ipykernel "
                               f"install --sys-prefix --name {name} (make install does this)") from None
        from ipykernel.kernelspec import install as install_kernel

        install_kernel(kernel_name=name, display_name=KERNEL_DISPLAY_NAME, prefix=sys.prefix)
        print(f"registered Jupyter kernel {name!r} for {sys.executable} under {sys.prefix}", file=sys.stderr)
        spec = manager.get_kernel_spec(name)
    executable = spec.argv[0]
    if os.path.isabs(executable) and not os.path.exists(executable):
        raise RuntimeError(f"Jupyter kernel {name!r} points at {executable}, which does not exist; re-register it: "
                           f"{sys.executable} -m ipykernel install --sys-prefix --name {name}")
    return spec.resource_dir


def parameters_for(nb: Notebook, params: str) -> dict:
    """The parameters to inject: the CI set of ``nb`` (``params="ci"``) or none (``"full"``: its defaults).

    Raises when a CI parameter is not defined in the notebook's ``parameters`` cell (a typo would be ignored).
    """
    import papermill

    if params not in ("ci", "full"):
        raise ValueError(f"params must be 'ci' or 'full', got {params!r}")
    if params == "full":
        return {}
    chosen = dict(CI_PARAMETERS.get(nb.number, {}))
    defined = papermill.inspect_notebook(str(nb.ipynb))
    unknown = sorted(set(chosen) - set(defined))
    if unknown:
        raise ValueError(f"CI parameters {unknown} are not defined in the parameters cell of {nb.ipynb.name} "
                         f"(it defines {sorted(defined)}); fix CI_PARAMETERS in crossclr_lab/notebooks.py")
    return chosen


POLL_SLICE_S = 0.5


def _kernel_manager_class():
    """A kernel manager whose clients wait for kernel messages in polls of at most :data:`POLL_SLICE_S`.

    With pyzmq 27's asyncio sockets a wait can miss the wake-up of a message that has already arrived (seen
    here as an ``execute_reply`` read only when the cell's timeout expired, after fast cells and widget
    cells, with ipykernel 6 and 7 alike). A poll that times out ends with a real zmq poll, which finds such a
    message; polling in short slices bounds the stall to one slice instead of the whole timeout (or forever).
    """
    from queue import Empty
    from time import monotonic

    from jupyter_client import AsyncKernelManager
    from jupyter_client.channels import AsyncZMQSocketChannel

    class SlicedPollChannel(AsyncZMQSocketChannel):
        async def get_msg(self, timeout: float | None = None):
            deadline = None if timeout is None else monotonic() + timeout
            while True:
                left = POLL_SLICE_S if deadline is None else max(0.0, min(POLL_SLICE_S, deadline - monotonic()))
                try:
                    return await super().get_msg(timeout=left)
                except Empty:
                    if deadline is not None and monotonic() >= deadline:
                        raise

    class SlicedPollKernelManager(AsyncKernelManager):
        def client(self, **kwargs):
            kc = super().client(**kwargs)
            kc.shell_channel_class = kc.iopub_channel_class = SlicedPollChannel   # before channels start
            return kc

    return SlicedPollKernelManager


def execute(nb: Notebook, out_dir: str | os.PathLike, parameters: dict, kernel_name: str = KERNEL_NAME,
            timeout_s: float | None = None) -> Path:
    """Execute ``nb`` with ``parameters`` into ``out_dir/<name>.ipynb`` (cwd: the notebook folder).

    Raises ``papermill.PapermillExecutionError`` on a failing cell (the output notebook is still written).
    """
    import papermill

    out = Path(out_dir) / nb.ipynb.name
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(nb.ipynb), str(out), parameters=parameters, kernel_name=kernel_name,
                               cwd=str(nb.ipynb.parent), progress_bar=False, execution_timeout=timeout_s,
                               kernel_manager_class=_kernel_manager_class())
    return out


def run(notebooks: list[Notebook], out_dir: str | os.PathLike, params: str = "ci", log=print) -> list[dict]:
    """Execute ``notebooks`` in order; log and return one entry per notebook (status, wall time, parameters).

    Writes ``out_dir/summary.json``. Notebooks out of sync with their twins are refused (run ``sync``).
    """
    ensure_kernel()
    stale = {name: p for name, p in check(notebooks, notebooks[0].py.parent).items()
             if name in {nb.name for nb in notebooks}} if notebooks else {}
    if stale:
        raise ValueError("fix these notebooks first:\n" + _format_problems(stale))
    chosen = {nb.name: parameters_for(nb, params) for nb in notebooks}   # fail before running anything
    entries = []
    for nb in notebooks:
        parameters = chosen[nb.name]
        start = time.perf_counter()
        entry = {"notebook": nb.name, "params": params, "parameters": parameters}
        try:
            entry["output"] = str(execute(nb, out_dir, parameters))
            entry["status"] = "ok"
        except Exception as err:  # papermill's execution error names the failing cell; keep going
            entry["status"] = "failed"
            entry["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        entry["wall_time_s"] = round(time.perf_counter() - start, 1)
        log(f"{nb.name:<28} {entry['status']:<7} {entry['wall_time_s']:6.1f} s"
            + (f"  {entry['error']}" if entry["status"] == "failed" else ""))
        entries.append(entry)
    atomic_write_json(Path(out_dir) / "summary.json", {"params": params, "notebooks": entries})
    return entries


def _format_problems(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}:\n" + "\n".join(f"  - {p}" for p in items) for name, items in problems.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crossclr_lab.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(NOTEBOOK_DIR), help="notebook folder (default: the repository's)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sync", help="regenerate each .ipynb from its .py twin (outputs cleared, stable cell ids)")
    sub.add_parser("check", help="exit 1 listing notebooks out of sync, with outputs, untagged or shelling out")
    p = sub.add_parser("run", help="execute the notebooks with papermill")
    p.add_argument("--out", required=True, help="folder for the executed notebooks and summary.json")
    p.add_argument("--params", choices=("ci", "full"), default="ci",
                   help="ci: small CI parameter sets; full: the notebooks' defaults (default: %(default)s)")
    p.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (numbers or names)")
    args = parser.parse_args(argv)
    try:
        notebooks = discover(args.dir)
        if args.command == "sync":
            changed = sync(notebooks)
            print(f"{len(notebooks)} notebooks, {len(changed)} regenerated" +
                  "".join(f"\n  {p}" for p in changed))
            return 0
        if args.command == "check":
            problems = check(notebooks, args.dir)
            if problems:
                print(_format_problems(problems))
                return 1
            print(f"{len(notebooks)} notebooks in sync, cleared, tagged and free of shell-outs")
            return 0
        chosen = select(notebooks, args.only)
        print(f"running {len(chosen)} notebooks ({args.params} parameters) into {args.out}", flush=True)
        entries = run(chosen, args.out, args.params, log=lambda line: print(line, flush=True))
        total = sum(e["wall_time_s"] for e in entries)
        failed = [e["notebook"] for e in entries if e["status"] != "ok"]
        print(f"total {total:.1f} s; " + (f"FAILED: {', '.join(failed)}" if failed else "all ok"))
        return 1 if failed else 0
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
