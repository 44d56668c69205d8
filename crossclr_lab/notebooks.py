"""The notebook series: run it headlessly (papermill), keep ``.ipynb`` files in sync with their ``.py`` twins.

Each notebook ``notebooks/NN_name.ipynb`` is generated from its jupytext percent-format twin
``notebooks/NN_name.py`` (the file to edit and review). Commands::

    python -m crossclr_lab.notebooks sync                       # .py -> .ipynb, outputs cleared, stable cell ids
    python -m crossclr_lab.notebooks check                      # non-zero exit when a notebook breaks the rules
    python -m crossclr_lab.notebooks run --out runs/notebooks   # execute the series (CI parameters)
    python -m crossclr_lab.notebooks run --out runs/nb --params full --only 03 05
    python -m crossclr_lab.notebooks run --out runs/nb --only 03 --set seeds=[0,1] --cell-timeout 600

``--params ci`` injects the small parameter sets of :data:`CI_PARAMETERS` (one dict per notebook number);
``--params full`` runs each notebook's own defaults, the full experience. ``--set NAME=VALUE`` (a Python literal,
else a string) sets a parameter in every chosen notebook that has it. Every injected value must have the type of
the parameter's default (an int where the default is an int, ...), checked before anything runs. A cell running
longer than ``--cell-timeout`` seconds is stopped; a failing or stopped cell is named (its id, ``NN_name-007``
for cell 7 of the twin, and first line) with the path of the partial output notebook.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crossclr_lab.checks import check_choice
from crossclr_lab.files import atomic_write_json, atomic_write_text, repo_root

REPO_ROOT = repo_root() or Path.cwd()   # the checkout; an installed package looks in the current folder
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "crossclr-lab"
KERNEL_DISPLAY_NAME = "Python (crossclr-lab)"
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
TWIN_FORMAT = "py:percent"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+$")

# Small parameter sets for CI (2 cores): keyed by notebook number, names must exist in its `parameters` cell.
# The notebooks' own defaults are the full experience (`--params full`).
CI_PARAMETERS: dict[str, dict] = {
    "00": {"n_pairs": 4},
    "01": {"epochs": 2},
    "02": {"interactive": True},
    "03": {"seeds": [0, 1], "epochs": 2, "losses": ["crossclr", "infonce", "dcl"], "ablation": True,
           "try_kappas": [0.05], "jobs": 1},
    "04": {"epochs": 2, "max_points": 60, "thumbnail_points": 30, "n_neighbors": 8, "interactive": True},
    "05": {"epochs": 2, "max_k": 50, "interactive": True},
    "06": {"stand_in_epochs": 2, "stand_in_videos": 32},
    "07": {"seeds": [0], "epochs": 2, "captioner_epochs": 2, "n_examples": 2, "use_java": False, "jobs": 1},
    "08": {"seeds": [0], "epochs": 1, "weight_epochs": 1, "pairs": [["appearance", "motion"]], "pair_seeds": [0],
           "jobs": 1},
    "09": {"emojis": ["red apple", "cat", "banana"], "seeds": [0, 1, 2], "epochs": 3, "queries": ["a cat spinning"]},
}

# Lines that shell out, install or download: they break papermill, offline use and reproducibility.
FORBIDDEN = [
    (re.compile(r"^\s*!"), "shell escape (!cmd)"),
    (re.compile(r"^\s*%+\s*(pip|conda|mamba)\b"), "%pip/%conda install"),
    (re.compile(r"^\s*%%?\s*(bash|sh|script|system|sx)\b"), "shell magic"),
    (re.compile(r"\b(subprocess|os\.system|os\.popen)\b"), "shell-out from Python"),
    (re.compile(r"\b(urllib\.request|requests\.get|urlretrieve|wget)\b"), "download"),
]
DEFAULT_CELL_TIMEOUT_S = 3600.0  # generous: the longest cell with full parameters (03's comparisons) takes minutes


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
    # no jupytext "formats" pairing: saving the .ipynb in JupyterLab must never rewrite the tracked .py twin
    node.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
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


COPY_EXTRAS = ("README.md", "NOTATION.md", "solutions/exercises.py")   # what the notebooks link to
DEFAULT_COPY_DIR = REPO_ROOT / "my_notebooks"                              # git-ignored


def copy_series(notebooks: list[Notebook], dest: str | os.PathLike,
                notebook_dir: str | os.PathLike = NOTEBOOK_DIR) -> list[Path]:
    """A learner's workspace: fresh ``.ipynb`` of ``notebooks`` (generated from the twins) and the files they link
    to, written into ``dest``; returns the written paths. Answers saved there never touch the kit's sources and the
    runner never sees them. Refuses the notebook folder itself and existing files (nothing is overwritten)."""
    dest, folder = Path(dest), Path(notebook_dir)
    if dest.resolve() == folder.resolve():
        raise ValueError(f"{dest} is the kit's notebook folder; copy into another folder, e.g. {DEFAULT_COPY_DIR}")
    files = {dest / nb.ipynb.name: notebook_text(notebook_from_twin(nb)) for nb in notebooks}
    files |= {dest / extra: (folder / extra).read_text(encoding="utf-8") for extra in COPY_EXTRAS
              if (folder / extra).is_file()}
    existing = sorted(str(p) for p in files if p.exists())
    if existing:
        raise ValueError(f"{len(existing)} file(s) already exist in {dest} (e.g. {existing[0]}): your earlier work is "
                         "kept; copy into a new folder, or delete them first")
    return [atomic_write_text(path, text) for path, text in files.items()]


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
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        else:
            targets = [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
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
        problems.append("the first code cell is not tagged 'parameters' "
                        "(in the .py twin: `# %% tags=[\"parameters\"]`)")
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


_UNKNOWN = object()  # a default that is not a Python literal (e.g. an expression): any value is accepted


def parameter_defaults(nb: Notebook) -> dict:
    """``{name: default value}`` of the notebook's ``parameters`` cell (as papermill reads it)."""
    import papermill

    defaults = {}
    for name, spec in papermill.inspect_notebook(str(nb.ipynb)).items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError, TypeError):
            defaults[name] = _UNKNOWN
    return defaults


def _fits(value, default) -> bool:
    """Whether ``value`` has the type of ``default``: bool for bool, int for int, a number for float, a list whose
    elements fit the default's elements for a list; anything where the default is None."""
    if default is None or default is _UNKNOWN:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple)) and (not default or all(any(_fits(v, d) for d in default)
                                                                        for v in value))
    return isinstance(value, type(default))


def check_parameters(nb: Notebook, parameters: dict, defaults: dict | None = None) -> None:
    """``ValueError`` (one line) unless every parameter is defined in ``nb``'s ``parameters`` cell with a default
    of the same type (:func:`_fits`), so a wrong value fails here, not deep inside a cell."""
    defaults = parameter_defaults(nb) if defaults is None else defaults
    unknown = sorted(set(parameters) - set(defaults))
    if unknown:
        raise ValueError(f"parameters {unknown} are not defined in the parameters cell of {nb.ipynb.name} "
                         f"(it defines {sorted(defaults)})")
    wrong = [f"{k}={v!r} ({type(v).__name__}; the default is {defaults[k]!r})"
             for k, v in parameters.items() if not _fits(v, defaults[k])]
    if wrong:
        raise ValueError(f"{nb.name}: wrong parameter type: {'; '.join(wrong)}")


def parse_assignment(text: str) -> tuple[str, object]:
    """``"NAME=VALUE"`` -> ``(name, value)``: VALUE as a Python literal (``3``, ``[0, 1]``, ``None``), else the
    string itself."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"--set expects NAME=VALUE, e.g. epochs=3 or seeds=[0,1]; got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return name.strip(), value


def parameters_for(nb: Notebook, params: str, overrides: dict | None = None) -> dict:
    """The parameters to inject: the CI set of ``nb`` (``params="ci"``) or none (``"full"``: its defaults), updated
    by the ``overrides`` that ``nb`` defines.

    Raises when a CI parameter is not defined in the notebook's ``parameters`` cell (a typo would be ignored) or
    when a value's type differs from its default's (:func:`check_parameters`).
    """
    check_choice("params", params, ("ci", "full"))
    chosen = {} if params == "full" else dict(CI_PARAMETERS.get(nb.number, {}))
    defaults = parameter_defaults(nb)
    unknown = sorted(set(chosen) - set(defaults))
    if unknown:
        raise ValueError(f"CI parameters {unknown} are not defined in the parameters cell of {nb.ipynb.name} "
                         f"(it defines {sorted(defaults)}); fix CI_PARAMETERS in crossclr_lab/notebooks.py")
    chosen.update({k: v for k, v in (overrides or {}).items() if k in defaults})
    check_parameters(nb, chosen, defaults)
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


def _first_line(source: str) -> str:
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def describe_failure(err: Exception, output: Path, timeout_s: float | None) -> str:
    """One line naming the cell that failed or timed out (its id and first line) and the partial output notebook."""
    import nbformat

    try:
        cells = [c for c in nbformat.read(output, as_version=4).cells if c.cell_type == "code"]
    except Exception:  # noqa: BLE001 - no output notebook (e.g. the kernel never started): report the error itself
        cells = []
    failed = [c for c in cells if c.metadata.get("papermill", {}).get("exception")]
    started = [c for c in cells if c.metadata.get("papermill", {}).get("start_time")]
    cell = failed[0] if failed else (started[-1] if started else None)
    text = str(err).strip().splitlines()
    if type(err).__name__ == "CellTimeoutError":
        what = f"did not finish within {timeout_s:g} s (raise --cell-timeout)"
    elif getattr(err, "ename", None):
        what = f"raised {err.ename}: {err.evalue}"
    else:
        what = f"failed: {type(err).__name__}: {text[-1] if text else ''}"
    if cell is None:
        return f"{what}; output notebook: {output}"
    return f"cell {cell.get('id', '?')} (`{_first_line(cell.source)}`) {what}; partial output notebook: {output}"


def _output_folder(out_dir: str | os.PathLike) -> Path:
    """``out_dir``, created and checked writable (a clear ``ValueError`` otherwise)."""
    import tempfile

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder for the executed notebooks")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to --out {out} ({err.strerror or err}); pass a folder you can write to"
                         ) from None
    return out


def run(notebooks: list[Notebook], out_dir: str | os.PathLike, params: str = "ci", log=print,
        cell_timeout_s: float | None = DEFAULT_CELL_TIMEOUT_S, overrides: dict | None = None) -> list[dict]:
    """Execute ``notebooks`` in order; log and return one entry per notebook (status, wall time, parameters).

    Writes ``out_dir/summary.json``. Notebooks out of sync with their twins are refused (run ``sync``); so are
    parameters of the wrong type and ``overrides`` (``{name: value}``, set in each notebook that defines the name)
    that no chosen notebook defines. A cell running longer than ``cell_timeout_s`` (None: no limit) is stopped.
    """
    out_dir = _output_folder(out_dir)
    ensure_kernel()
    stale = {name: p for name, p in check(notebooks, notebooks[0].py.parent).items()
             if name in {nb.name for nb in notebooks}} if notebooks else {}
    if stale:
        raise ValueError("fix these notebooks first:\n" + _format_problems(stale))
    chosen = {nb.name: parameters_for(nb, params, overrides) for nb in notebooks}   # fail before running anything
    unused = sorted(set(overrides or {}) - {k for p in chosen.values() for k in p})
    if unused:
        raise ValueError(f"--set {', '.join(unused)}: not a parameter of the chosen notebooks")
    entries = []
    for nb in notebooks:
        parameters = chosen[nb.name]
        start = time.perf_counter()
        entry = {"notebook": nb.name, "params": params, "parameters": parameters}
        try:
            entry["output"] = str(execute(nb, out_dir, parameters, timeout_s=cell_timeout_s))
            entry["status"] = "ok"
        except Exception as err:  # report the failing cell and where the partial notebook is; keep going
            entry["status"] = "failed"
            entry["error"] = describe_failure(err, out_dir / nb.ipynb.name, cell_timeout_s)
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
    c = sub.add_parser("copy", help="your own workspace: fresh copies of the notebooks (and the files they link to) "
                                    "in DIR, where your answers never touch the kit's sources")
    c.add_argument("copy_dir", nargs="?", default=str(DEFAULT_COPY_DIR), metavar="DIR",
                   help="folder for the copies (default: my_notebooks/ in the repository, git-ignored)")
    p = sub.add_parser("run", help="execute the notebooks with papermill")
    p.add_argument("--out", required=True, help="folder for the executed notebooks and summary.json")
    p.add_argument("--params", choices=("ci", "full"), default="ci",
                   help="ci: small CI parameter sets; full: the notebooks' defaults (default: %(default)s)")
    p.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (numbers or names)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter in every chosen notebook that has it (a Python literal, else a string); "
                        "repeatable, e.g. --set epochs=3 --set seeds=[0,1]")
    p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S, metavar="SECONDS",
                   help="stop a cell that runs longer than this (0: no limit; default: %(default)g)")
    args = parser.parse_args(argv)
    try:
        notebooks = discover(args.dir)
        if args.command == "sync":
            changed = sync(notebooks)
            print(f"{len(notebooks)} notebooks, {len(changed)} regenerated" +
                  "".join(f"\n  {p}" for p in changed))
            return 0
        if args.command == "copy":
            written = copy_series(notebooks, args.copy_dir, args.dir)
            print(f"{len(written)} files copied into {args.copy_dir}; open its .ipynb files in JupyterLab "
                  f"(`jupyter lab {args.copy_dir}`): your saves stay there")
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
        if args.cell_timeout < 0:
            raise ValueError(f"--cell-timeout must be >= 0 seconds, got {args.cell_timeout:g}")
        overrides = dict(parse_assignment(a) for a in args.set)
        entries = run(chosen, args.out, args.params, log=lambda line: print(line, flush=True),
                      cell_timeout_s=args.cell_timeout or None, overrides=overrides)
        total = sum(e["wall_time_s"] for e in entries)
        failed = [e["notebook"] for e in entries if e["status"] != "ok"]
        print(f"total {total:.1f} s; " + (f"FAILED: {', '.join(failed)}" if failed else "all ok"))
        return 1 if failed else 0
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
