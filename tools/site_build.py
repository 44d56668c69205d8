"""The kit as a static site: the notebooks executed (cached), a note on each, then Sphinx + MyST-NB into ``site/``.

    python -m tools.site_build                          # make site: full parameters, into site/
    python -m tools.site_build --params ci --out DIR    # the small CI parameter sets (what CI checks)

Steps: (1) every notebook whose cache key changed is executed by the notebook runner
(``python -m crossclr_lab.notebooks run``); the key hashes its ``.py`` twin and ``.ipynb``, the library's source,
the data files, the lock file and the parameters, so a rebuild without changes executes nothing. A failing
notebook fails the build with its name and the failing cell. (2) Each executed notebook gets a note on top (date,
parameters, machine, wall time), its live-widget outputs are replaced by a pointer to JupyterLab, and it is
staged under ``docs/notebooks/`` (generated, git-ignored) with an index page made from ``notebooks/README.md``.
(3) ``sphinx-build`` renders ``docs/`` (MyST-NB with execution off) into the output folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from crossclr_lab import notebooks as nbs
from crossclr_lab.files import atomic_write_bytes, atomic_write_json, atomic_write_text

REPO_ROOT = nbs.REPO_ROOT
DOCS_DIR = REPO_ROOT / "docs"
SITE_DIR = REPO_ROOT / "site"
CACHE_DIR = REPO_ROOT / "build" / "site-cache"          # <params>/<notebook>.ipynb + <notebook>.json
DOCTREE_DIR = REPO_ROOT / "build" / "site-doctrees"     # <params>/: Sphinx's incremental state
STAGED = "notebooks"                                    # docs/notebooks/: the executed, annotated notebooks
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HASHED_WHOLE_MAX = 64 * 2**20    # data files above this size enter the key by size and mtime, not content
# Modules that build or check the site and never run inside a notebook: editing them re-executes nothing.


class SiteBuildError(RuntimeError):
    """A step of the site build failed (the message names the notebook and cell, or the failing command)."""


@dataclass(frozen=True)
class Executed:
    """One executed notebook in the cache: the notebook file and what the note on its page says."""

    notebook: nbs.Notebook
    path: Path
    meta: dict


# -- the cache key -------------------------------------------------------------------------------------------------
def _files_under(root: Path, folder: str, pattern: str) -> list[Path]:
    base = root / folder
    return sorted(p for p in base.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts) \
        if base.is_dir() else []


def execution_inputs(root: Path = REPO_ROOT) -> list[Path]:
    """The files (besides the notebook itself) whose change re-executes every notebook: the library's source,
    the data files, the lock file."""
    library = _files_under(root, "crossclr_lab", "*.py")
    lock = [root / "requirements.lock"] if (root / "requirements.lock").is_file() else []
    return library + _files_under(root, "data", "*") + lock


def cache_key(nb: nbs.Notebook, params: str, parameters: dict, root: Path = REPO_ROOT) -> str:
    """sha256 over the notebook's twin and ``.ipynb``, :func:`execution_inputs`, the parameters and Python's
    version: equal keys mean the cached execution is what a new one would run."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(len(label).to_bytes(8, "little") + label.encode() + len(data).to_bytes(8, "little") + data)

    add("parameters", json.dumps({"params": params, "parameters": parameters}, sort_keys=True).encode())
    add("python", platform.python_version().encode())
    for path in [nb.py, nb.ipynb, *execution_inputs(root)]:
        label = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        stat = path.stat()
        if stat.st_size > HASHED_WHOLE_MAX:
            add(label, f"size={stat.st_size} mtime_ns={stat.st_mtime_ns}".encode())
        else:
            add(label, path.read_bytes())
    return digest.hexdigest()


# -- executing (through the notebook runner) -----------------------------------------------------------------------
def machine() -> str:
    """This machine in a few words: CPU model and count, OS, Python, torch and the device notebooks pick."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    device = f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    threads = f", OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}" if os.environ.get("OMP_NUM_THREADS") else ""
    return (f"{cpu}, {os.cpu_count()} CPUs{threads}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}, device {device}")


def failed_cell(path: Path) -> str | None:
    """Where an executed notebook failed: the first cell with an error output, by id and execution count."""
    import nbformat

    if not path.is_file():
        return None
    node = nbformat.read(path, as_version=4)
    for cell in node.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                first = next((line.strip() for line in cell.source.splitlines()
                              if line.strip() and not line.lstrip().startswith("#")), "")
                return (f"cell {cell.get('id', '?')} (In [{cell.get('execution_count')}], starting {first!r}) "
                        f"raised {out.get('ename')}: {out.get('evalue')}")
    return None


def _runner_env(root: Path) -> dict:
    """The runner's (and its kernels') environment: this checkout's library first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env


# A static page cannot run widgets: notebooks with live controls (``interactive = True`` by default) are executed
# with them off, so their pages show the static figures.
STATIC = {"interactive": False}


def site_parameters(nb: nbs.Notebook, params: str) -> dict:
    """The parameters ``nb`` is executed with for the site: ``params``' set with :data:`STATIC` where defined."""
    return nbs.parameters_for(nb, params, STATIC)


def execute(notebooks: list[nbs.Notebook], params: str, cache_dir: Path = CACHE_DIR, root: Path = REPO_ROOT,
            log=print) -> list[Executed]:
    """Every notebook executed with ``params`` ("full" or "ci"), from the cache where its key is unchanged.

    Stale notebooks run in one call of the notebook runner; those that succeed are cached even when others
    fail. Raises :class:`SiteBuildError` naming each failing notebook and its failing cell.
    """
    folder = Path(cache_dir) / params
    folder.mkdir(parents=True, exist_ok=True)
    keys = {nb.name: cache_key(nb, params, site_parameters(nb, params), root) for nb in notebooks}
    stale = []
    for nb in notebooks:
        meta_path = folder / f"{nb.name}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        if meta.get("key") != keys[nb.name] or not (folder / nb.ipynb.name).is_file():
            stale.append(nb)
    log(f"notebooks ({params} parameters): {len(notebooks) - len(stale)} cached, {len(stale)} to execute"
        + (f": {', '.join(nb.name for nb in stale)}" if stale else ""))
    failures = []
    if stale:
        failures = _run_stale(stale, params, folder, keys, root)
    if failures:
        raise SiteBuildError("notebook execution failed:\n" + "\n".join(f"  - {f}" for f in failures))
    return [Executed(nb, folder / nb.ipynb.name, json.loads((folder / f"{nb.name}.json").read_text()))
            for nb in notebooks]


def store(nb: nbs.Notebook, params: str, executed: Path, wall_time_s: float, command: str,
          cache_dir: Path = CACHE_DIR, root: Path = REPO_ROOT, key: str | None = None,
          described: str | None = None) -> Path:
    """Put ``executed`` (``nb`` run with ``params`` by ``command``) into the cache, under ``key`` (default: the
    current :func:`cache_key`), with the record the page's note is made from. Returns the cached notebook."""
    folder = Path(cache_dir) / params
    folder.mkdir(parents=True, exist_ok=True)
    parameters = site_parameters(nb, params)
    finished = datetime.fromtimestamp(Path(executed).stat().st_mtime, timezone.utc)
    target = folder / nb.ipynb.name
    atomic_write_bytes(target, Path(executed).read_bytes())
    atomic_write_json(folder / f"{nb.name}.json", {
        "key": key or cache_key(nb, params, parameters, root), "notebook": nb.name, "params": params,
        "parameters": parameters, "wall_time_s": round(float(wall_time_s), 1),
        "executed_at": finished.strftime("%Y-%m-%d %H:%M UTC"), "machine": described or machine(),
        "command": command})
    return target


def _run_stale(stale: list[nbs.Notebook], params: str, folder: Path, keys: dict, root: Path) -> list[str]:
    """Run ``stale`` with the notebook runner into a scratch folder, cache the successes, describe the failures."""
    described = machine()
    notebook_dir = stale[0].py.parent
    with tempfile.TemporaryDirectory(prefix=".run-", dir=folder) as scratch:
        out = Path(scratch)
        command = [sys.executable, "-m", "crossclr_lab.notebooks", "--dir", str(notebook_dir), "run",
                   "--out", str(out), "--params", params, "--only", *[nb.number for nb in stale]]
        if any("interactive" in site_parameters(nb, params) for nb in stale):
            command += ["--set", *(f"{k}={v!r}" for k, v in STATIC.items())]
        code = subprocess.run(command, cwd=root, env=_runner_env(root)).returncode
        summary_path = out / "summary.json"
        if not summary_path.is_file():
            return [f"the notebook runner exited with code {code} before executing anything (its message is "
                    f"above): {' '.join(command)}"]
        entries = {e["notebook"]: e for e in json.loads(summary_path.read_text())["notebooks"]}
        failures = []
        for nb in stale:
            entry = entries.get(nb.name, {"status": "not run"})
            if entry.get("status") != "ok":
                where = failed_cell(out / nb.ipynb.name) or entry.get("error") or entry.get("status")
                failures.append(f"{nb.name} ({nb.py.name}): {where}")
                continue
            store(nb, params, Path(entry.get("output") or out / nb.ipynb.name), entry.get("wall_time_s", 0.0),
                  f"python -m crossclr_lab.notebooks run --params {params} --only {nb.number}",
                  folder.parent, root, key=keys[nb.name], described=described)
        return failures


# -- annotating and staging ----------------------------------------------------------------------------------------
def run_note(meta: dict, has_widgets: bool) -> str:
    """The admonition on top of a notebook page: how, when and where it was executed."""
    if meta["params"] == "full":
        parameters = "its own default parameters (the first code cell below)"
    else:
        shown = ", ".join(f"`{k} = {v!r}`" for k, v in meta["parameters"].items()) or "none"
        parameters = f"the small CI parameter set ({shown}; the cell marked injected-parameters)"
    lines = [f"Executed on {meta['executed_at']} with {parameters}, by `{meta['command']}`, in "
             f"{meta['wall_time_s']:.0f} s on: {meta['machine']}."]
    if has_widgets:
        lines.append("This page is static (executed with `interactive = False`): its figures show the default "
                     "settings. For the live widgets run `make lab` (it opens JupyterLab on `notebooks/`), open this "
                     "notebook and run all cells (`interactive = True` is its default).")
    return "```{admonition} How this page was made\n:class: note\n\n" + "\n\n".join(lines) + "\n```\n"


def annotate(node, meta: dict):
    """``node`` (an executed notebook) with the run note under its title and live-widget outputs replaced by a
    pointer to JupyterLab (a static page cannot run them); the widget state is dropped. Returns ``node``."""
    import nbformat

    code = [c for c in node.cells if c.cell_type == "code"]
    defined = nbs.assigned_names(code[0].source) if code else []
    widgets = "interactive" in defined
    for cell in code:
        kept = []
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                out = nbformat.v4.new_output("display_data", data={
                    "text/markdown": "*A live widget is shown here in JupyterLab (see the note at the top).*"})
                widgets = True
            kept.append(out)
        cell.outputs = kept
    node.metadata.pop("widgets", None)
    note = run_note(meta, widgets)
    first = node.cells[0] if node.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("# "):
        title, _, rest = first.source.lstrip().partition("\n")     # the note goes right under the title
        first.source = f"{title}\n\n{note}\n{rest.lstrip()}"
    else:
        cell = nbformat.v4.new_markdown_cell(note)
        cell.id = "site-run-note"
        node.cells.insert(0, cell)
    return node


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds it (so Sphinx re-reads only what changed)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def notebooks_index(notebook_dir: Path, pages: list[str]) -> str:
    """The notebooks section's page: ``notebooks/README.md`` (or a title) and a toctree of ``pages``."""
    readme = notebook_dir / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Notebooks\n"
    return text.rstrip() + "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(pages) + "\n```\n"


def stage(executed: list[Executed], notebook_dir: Path = nbs.NOTEBOOK_DIR, docs_dir: Path = DOCS_DIR) -> int:
    """Write the annotated notebooks, ``NOTATION.md`` (when present) and the section index into
    ``docs_dir/notebooks/``; remove anything else there. Returns how many files changed."""
    import nbformat

    target = Path(docs_dir) / STAGED
    target.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, str] = {}
    notation = Path(notebook_dir) / "NOTATION.md"
    if notation.is_file():
        wanted["NOTATION.md"] = notation.read_text(encoding="utf-8")
    for ex in executed:
        node = annotate(nbformat.read(ex.path, as_version=4), ex.meta)
        wanted[ex.notebook.ipynb.name] = nbformat.writes(node) + "\n"
    pages = [Path(name).stem for name in wanted]
    wanted["index.md"] = notebooks_index(Path(notebook_dir), pages)
    changed = sum(_write_if_changed(target / name, text) for name, text in wanted.items())
    for path in target.iterdir():
        if path.name not in wanted:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            changed += 1
    return changed


# -- building ------------------------------------------------------------------------------------------------------
def prune_api_pages(docs_dir: Path, folder: str = "_api") -> list[str]:
    """Delete autosummary's generated pages (``docs/_api/<module>.rst``) of modules that no longer exist
    (autosummary writes pages, never removes them); returns their names."""
    import importlib.util

    removed = []
    for page in sorted((Path(docs_dir) / folder).glob("*.rst")):
        try:
            exists = importlib.util.find_spec(page.stem) is not None
        except (ImportError, ValueError):
            exists = False
        if not exists:
            page.unlink()
            removed.append(page.stem)
    return removed


def sphinx(docs_dir: Path, out: Path, doctree_dir: Path) -> None:
    """``sphinx-build -b html`` of ``docs_dir`` into ``out`` (incremental through ``doctree_dir``)."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(doctree_dir), str(docs_dir), str(out)]
    code = subprocess.run(command, cwd=REPO_ROOT).returncode
    if code != 0:
        raise SiteBuildError(f"sphinx-build failed with exit code {code} (its messages are above): "
                             + " ".join(command))


def build(params: str = "full", out: str | os.PathLike = SITE_DIR, cache_dir: Path = CACHE_DIR,
          doctree_dir: Path | None = None, notebook_dir: Path = nbs.NOTEBOOK_DIR, docs_dir: Path = DOCS_DIR,
          log=print) -> dict:
    """Execute (cached), stage and render the site into ``out``; returns what it did and how long each step took."""
    times = {}
    start = time.perf_counter()
    notebooks = nbs.discover(notebook_dir)
    if not notebooks:
        raise SiteBuildError(f"no notebooks found in {notebook_dir}")
    executed = execute(notebooks, params, cache_dir, log=log)
    times["execute_s"] = round(time.perf_counter() - start, 1)
    changed = stage(executed, notebook_dir, docs_dir)
    log(f"staged {len(executed)} notebooks into {Path(docs_dir) / STAGED} ({changed} files changed)")
    start = time.perf_counter()
    prune_api_pages(Path(docs_dir))
    sphinx(Path(docs_dir), Path(out), Path(doctree_dir or DOCTREE_DIR / params))
    times["sphinx_s"] = round(time.perf_counter() - start, 1)
    log(f"site written to {out}/index.html (execute {times['execute_s']} s, sphinx {times['sphinx_s']} s)")
    return {"notebooks": [ex.notebook.name for ex in executed], **times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.site_build", description=__doc__.split("\n")[0])
    parser.add_argument("--params", choices=("full", "ci"), default="full",
                        help="full: the notebooks' defaults; ci: their small CI sets (default: %(default)s)")
    parser.add_argument("--out", default=str(SITE_DIR), help="output folder (default: site/)")
    args = parser.parse_args(argv)
    try:
        build(args.params, args.out, log=lambda line: print(line, flush=True))
    except (SiteBuildError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
