"""The site: cache keys, notes and staging (fast); executing with a cache and naming a failing cell (slow); the
built site checked in Debian's Chromium, and the check shown to fail on a deleted figure and a broken link
(browser).

The browser tests build the site with the CI parameter sets into a temporary folder (the executed notebooks are
cached in build/site-cache/ci/, where tests/test_notebooks.py leaves its executions; the staged pages go to the
git-ignored docs/notebooks/ and docs/_api/). They skip when /usr/bin/chromium or Sphinx is missing, unless
CROSSCLR_REQUIRE_BROWSER=1 (set by .ci/run), which turns the skip into a failure.
"""

import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from crossclr_lab import notebooks as nbs
from tools import site_build, site_check

TWIN = '''# %% [markdown]
# # 99 — A scratch notebook
#
# Some text under the title.

# %% tags=["parameters"]
size = 3   # how many
interactive = False

# %%
values = list(range(size))
print(sum(values))
'''
META = {"params": "full", "parameters": {}, "wall_time_s": 12.3, "executed_at": "2026-11-30 10:00 UTC",
        "machine": "a test machine", "command": "python -m crossclr_lab.notebooks run --params full --only 99"}


def _series(folder: Path, **twins: str) -> list[nbs.Notebook]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in twins.items():
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    found = nbs.discover(folder)
    nbs.sync(found)
    return found


# -- fast ----------------------------------------------------------------------------------------------------------
def test_cache_key_follows_the_twin_the_library_the_data_and_the_parameters(tmp_path):
    root = tmp_path / "repo"
    (root / "crossclr_lab").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "crossclr_lab" / "losses.py").write_text("A = 1\n")
    (root / "tools").mkdir()
    (root / "tools" / "site_build.py").write_text("B = 1\n")
    (root / "data" / "features.bin").write_bytes(b"\x00\x01")
    nb = _series(root / "notebooks", **{"99_scratch": TWIN})[0]

    def key(params="full", parameters=None):
        return site_build.cache_key(nb, params, parameters or {}, root)

    first = key()
    assert key() == first and len(first) == 64
    assert key("ci", {"size": 1}) != first and key("ci", {"size": 2}) != key("ci", {"size": 1})
    (root / "tools" / "site_build.py").write_text("B = 2\n")        # builds the site, never executed
    assert key() == first
    changes = [lambda: (root / "crossclr_lab" / "losses.py").write_text("A = 2\n"),
               lambda: (root / "data" / "features.bin").write_bytes(b"\x00\x02"),
               lambda: (root / "requirements.lock").write_text("torch==2.13.0\n"),
               lambda: _series(root / "notebooks", **{"99_scratch": TWIN.replace("sum", "max")})]
    seen = {first}
    for change in changes:
        change()
        seen.add(key())
    assert len(seen) == len(changes) + 1, "every change must give a new key"


@pytest.fixture
def scratch(tmp_path) -> nbs.Notebook:
    return _series(tmp_path / "notebooks", **{"99_scratch": TWIN})[0]


def _executed_node(nb: nbs.Notebook, widget: bool = True):
    """``nb`` as if executed: a print, a figure and (``widget``) an ipywidgets view with its saved state."""
    node = nbs.notebook_from_twin(nb)
    code = [c for c in node.cells if c.cell_type == "code"]
    code[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n"),
                        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=",
                                                                     "text/plain": "<Figure>"})]
    if widget:
        code[-1].outputs.append(nbformat.v4.new_output("display_data", data={
            site_build.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "interactive(children=(FloatSlider(value=0.03),))"}))
        node.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return node


def test_annotate_puts_the_note_under_the_title_and_replaces_widgets(scratch):
    node = site_build.annotate(_executed_node(scratch), META)
    title_cell = node.cells[0]
    assert title_cell.source.startswith("# 99 — A scratch notebook\n\n```{admonition} How this page was made")
    assert "Some text under the title." in title_cell.source.split("```\n", 1)[1]
    for fact in ("2026-11-30 10:00 UTC", "its own default parameters", "12 s", "a test machine",
                 "--params full --only 99", "make lab", "interactive = True"):
        assert fact in title_cell.source, fact
    outputs = [o for c in node.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(site_build.WIDGET_VIEW in o.get("data", {}) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1               # the figure stays
    assert any("live widget" in o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "widgets" not in node.metadata
    nbformat.validate(node)


def test_note_for_ci_parameters_lists_them_and_skips_the_widget_hint_without_widgets(scratch):
    node = _executed_node(scratch, widget=False)
    node.cells[1].source = "size = 3\n"                                     # no `interactive` parameter
    meta = {**META, "params": "ci", "parameters": {"size": 1}}
    note = site_build.annotate(node, meta).cells[0].source
    assert "`size = 1`" in note and "CI parameter set" in note and "make lab" not in note


def test_failed_cell_names_the_cell(scratch, tmp_path):
    node = _executed_node(scratch, widget=False)
    cell = [c for c in node.cells if c.cell_type == "code"][-1]
    cell.execution_count = 4
    cell.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                           traceback=[])]
    nbformat.write(node, tmp_path / "x.ipynb")
    where = site_build.failed_cell(tmp_path / "x.ipynb")
    assert where.startswith(f"cell {cell.id} (In [4], starting 'values = list(range(size))')")
    assert where.endswith("ZeroDivisionError: division by zero")
    assert site_build.failed_cell(tmp_path / "missing.ipynb") is None


def test_stage_lists_every_notebook_in_order_and_removes_stale_files(tmp_path):
    notebooks_dir = tmp_path / "notebooks"
    found = _series(notebooks_dir, **{"02_second": TWIN.replace("99 — A scratch", "02 — Second"),
                                      "01_first": TWIN.replace("99 — A scratch", "01 — First")})
    (notebooks_dir / "README.md").write_text("# The notebooks\n\nIntro.\n")
    executed = []
    for nb in found:
        path = tmp_path / "cache" / nb.ipynb.name
        path.parent.mkdir(exist_ok=True)
        shutil.copy(nb.ipynb, path)
        executed.append(site_build.Executed(nb, path, META))
    docs = tmp_path / "docs"
    (docs / "notebooks").mkdir(parents=True)
    (docs / "notebooks" / "00_removed.ipynb").write_text("{}")
    assert site_build.stage(executed, notebooks_dir, docs) == 4                  # 2 notebooks, index, 1 removed
    staged = docs / "notebooks"
    assert sorted(p.name for p in staged.iterdir()) == ["01_first.ipynb", "02_second.ipynb", "index.md"]
    index = (staged / "index.md").read_text()
    assert index.startswith("# The notebooks\n\nIntro.") and index.index("01_first") < index.index("02_second")
    assert site_build.stage(executed, notebooks_dir, docs) == 0                  # unchanged: nothing rewritten
    (notebooks_dir / "NOTATION.md").write_text("# Notation\n")
    assert site_build.stage(executed, notebooks_dir, docs) == 2
    assert (staged / "index.md").read_text().split("```{toctree}")[1].split()[3:6] == \
        ["NOTATION", "01_first", "02_second"]


def test_expected_and_text_only_figures_are_read_from_the_sites_executed_notebooks(tmp_path):
    sources = tmp_path / "_sources" / "notebooks"
    sources.mkdir(parents=True)
    node = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fig", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 800x320 with 1 Axes>"},
                               execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="<Figure size 800x320 with 1 Axes>\n")])])
    nbformat.write(node, sources / "01_a.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), sources / "02_b.ipynb")
    assert site_check.expected_figures(tmp_path) == {"notebooks/01_a.html": 1, "notebooks/02_b.html": 0}
    assert site_check.text_only_figures(tmp_path) == {"notebooks/01_a.html": 1}


def test_docs_sources_include_the_pages_the_site_promises():
    docs = site_build.DOCS_DIR
    index = (docs / "index.md").read_text()
    assert "{include} ../README.md" in index and "notebooks/index" in index
    for page, included in [("data", "../data/emoji_motion/README.md"), ("benchmarks", "../benchmarks/README.md")]:
        assert page in index and included in (docs / f"{page}.md").read_text()
        assert (docs / included).resolve().is_file()
    assert "api" in index and ":recursive:" in (docs / "api.md").read_text()
    conf = (docs / "conf.py").read_text()
    assert 'nb_execution_mode = "off"' in conf and "sphinx-mathjax-offline" in conf
    workflow = (site_build.REPO_ROOT / ".github" / "workflows" / "site.yml").read_text()
    assert "make site" in workflow and "actions/deploy-pages" in workflow and "path: site" in workflow


def test_prune_api_pages_removes_pages_of_modules_that_are_gone(tmp_path):
    api = tmp_path / "_api"
    api.mkdir()
    for name in ("crossclr_lab.losses.crossclr", "crossclr_lab.site", "crossclr_lab.no_such_module"):
        (api / f"{name}.rst").write_text(name)
    assert site_build.prune_api_pages(tmp_path) == ["crossclr_lab.no_such_module", "crossclr_lab.site"]
    assert [p.stem for p in api.iterdir()] == ["crossclr_lab.losses.crossclr"]


# -- slow: executing through the runner ----------------------------------------------------------------------------
@pytest.mark.slow
def test_execute_caches_and_a_failing_notebook_names_its_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    folder = tmp_path / "notebooks"
    found = _series(folder, **{"98_broken": TWIN.replace("print(sum(values))", "print(1 / 0)"),
                               "99_scratch": TWIN})
    cache = tmp_path / "cache"
    lines = []
    with pytest.raises(site_build.SiteBuildError) as err:
        site_build.execute(found, "full", cache, log=lines.append)
    message = str(err.value)
    assert "98_broken (98_broken.py): cell 98_broken-002 (In [" in message
    assert "starting 'values = list(range(size))') raised ZeroDivisionError" in message
    assert "99_scratch" not in message and (cache / "full" / "99_scratch.ipynb").is_file()   # the good one cached

    found = _series(folder, **{"98_broken": TWIN})                                # fixed
    executed = site_build.execute(found, "full", cache, log=lines.append)
    assert lines[-1].startswith("notebooks (full parameters): 1 cached, 1 to execute: 98_broken")
    cached = {ex.notebook.name: ex.path.stat().st_mtime_ns for ex in executed}
    assert all(ex.meta["wall_time_s"] >= 0 and ex.meta["params"] == "full" for ex in executed)

    start = time.perf_counter()
    again = site_build.execute(found, "full", cache, log=lines.append)
    assert lines[-1] == "notebooks (full parameters): 2 cached, 0 to execute"
    assert {ex.notebook.name: ex.path.stat().st_mtime_ns for ex in again} == cached
    assert time.perf_counter() - start < 5                                        # no kernel was started


# -- browser: the real site with the CI parameter sets -------------------------------------------------------------
SCREENSHOTS = site_build.REPO_ROOT / "runs" / "site" / "screenshots"


def _require_browser():
    missing = [what for what, ok in [(str(site_check.CHROMIUM), site_check.CHROMIUM.exists()),
                                     ("sphinx and myst-nb", _importable("sphinx") and _importable("myst_nb")),
                                     ("playwright", _importable("playwright"))] if not ok]
    if missing:
        message = f"missing: {', '.join(missing)} (apt-get install -y chromium; make install)"
        if os.environ.get("CROSSCLR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message}, but CROSSCLR_REQUIRE_BROWSER=1")
        pytest.skip(message)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    _require_browser()
    os.environ.setdefault("OMP_NUM_THREADS", "1")     # the kernels inherit it: tiny CI models, two busy cores
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    report = site_build.build("ci", out / "html", doctree_dir=out / "doctrees")
    print(f"site built in {time.perf_counter() - start:.1f} s: {report}")
    return out / "html"


@pytest.mark.slow
@pytest.mark.browser
def test_built_site_passes_the_browser_check(built_site):
    assert (built_site / "index.html").is_file()
    names = site_check.pages(built_site)
    for nb in nbs.discover():
        assert f"notebooks/{nb.name}.html" in names, f"no page for {nb.name}"
    assert {"api.html", "data.html", "benchmarks.html", "about.html", "notebooks/index.html"} <= set(names)
    assert any(n.startswith("_api/crossclr_lab.losses") for n in names)
    figures = site_check.expected_figures(built_site)
    assert figures and all(count > 0 for count in figures.values()), figures
    start = time.perf_counter()
    problems = site_check.check_site(built_site, screenshots=SCREENSHOTS)
    print(f"{len(names)} pages checked in {time.perf_counter() - start:.1f} s")
    assert problems == []


@pytest.fixture
def site_copy(built_site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(built_site, copy)
    return copy


@pytest.mark.slow
@pytest.mark.browser
def test_check_fails_on_a_deleted_figure(site_copy):
    page = next(name for name, count in site_check.expected_figures(site_copy).items() if count)
    html = (site_copy / page).read_text()
    image = html.split('src="../_images/', 1)[1].split('"', 1)[0]
    (site_copy / "_images" / image).unlink()
    problems = site_check.check_site(site_copy, word=None, only=[page])
    assert any(p.startswith(f"{page}: shows ") and "figures, its executed notebook has" in p for p in problems)
    assert any(p.startswith(f"{page}: image did not load: ../_images/{image}") for p in problems)


@pytest.mark.slow
@pytest.mark.browser
def test_check_fails_on_a_broken_link(site_copy):
    index = site_copy / "index.html"
    html, replaced = re.subn(r'(<a [^>]*href=")about\.html"', r'\1no_such_page.html"', index.read_text(), count=1)
    assert replaced == 1
    index.write_text(html)
    problems = site_check.check_site(site_copy, word=None, only=["index.html"])
    assert any(p == "index.html: link to /no_such_page.html answers 404" for p in problems), problems


@pytest.mark.slow
@pytest.mark.browser
def test_check_fails_when_the_search_finds_nothing(site_copy):
    problems = site_check.check_site(site_copy, word="zzyzxnotaword", only=["index.html"])
    assert any(p.startswith("search for 'zzyzxnotaword' found nothing") for p in problems), problems



@pytest.mark.slow
@pytest.mark.browser
def test_check_fails_on_a_widget_error_box(site_copy):
    name = next(iter(site_check.expected_figures(site_copy)))
    page = site_copy / name
    box = "<div>Error displaying widget: model not found</div>"
    html, replaced = re.subn(r'(<div class="cell_output[^"]*">)', rf"\1{box}", page.read_text(), count=1)
    assert replaced == 1
    page.write_text(html)
    problems = site_check.check_site(site_copy, word=None, only=[name])
    assert f"{name}: 1 'Error displaying widget' boxes" in problems, problems


def test_the_site_runs_widget_notebooks_static_while_they_open_live(tmp_path):
    nb = _series(tmp_path / "notebooks", **{"99_scratch": TWIN})[0]
    assert site_build.site_parameters(nb, "full") == {"interactive": False}
    plain = _series(tmp_path / "other", **{"98_plain": TWIN.replace("interactive = False\n", "")})[0]
    assert site_build.site_parameters(plain, "full") == {}
    live = [nb for nb in nbs.discover() if nb.number in ("02", "04", "05")]
    assert len(live) == 3
    for nb in live:
        assert nbs.parameter_defaults(nb)["interactive"] is True, nb.name
        assert site_build.site_parameters(nb, "ci")["interactive"] is False
