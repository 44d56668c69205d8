"""JupyterLab in a real (headless) Chromium at 1280×720: open notebook 02, run all cells, check the explorer's
layout, move the τ slider.

Checks that the explorer's controls and its figure fit the 1280×720 window together (bounding boxes, with the
file browser collapsed as a learner would), that the figure drawn by the widget changes when the slider moves,
and that the kernel sees the slider's new value; saves a screenshot under runs/browser/. Skips when
/usr/bin/chromium is missing, unless CROSSCLR_REQUIRE_BROWSER=1 (set by .ci/run), which turns the skip into a
failure.
"""

import json
import os
import time
from pathlib import Path

import pytest

from crossclr_lab import notebooks as nbs
from tools import lab_browser

CHROMIUM = lab_browser.CHROMIUM
TARGET = nbs.NOTEBOOK_DIR / "02_loss_explorer.ipynb"
SCREENSHOT = nbs.REPO_ROOT / "runs" / "browser" / "02_loss_explorer.png"
SLIDER_NAME = "τ"
VIEWPORT = {"width": 1280, "height": 720}
# Appended to the notebook copy: reports, from the kernel, the value of the newest slider described as τ.
PROBE = """import ipywidgets as _w
_sliders = [w for w in _w.widgets.widget._instances.values()
            if getattr(w, "description", None) == "{name}" and hasattr(w, "value")]
_s = _sliders[-1] if _sliders else None    # a SelectionSlider reads out its label, a FloatSlider its value
print("{mark}", "no slider" if _s is None else getattr(_s, "label", None) or f"{{_s.value:.3f}}")"""

pytestmark = pytest.mark.browser


def _require_browser():
    if not CHROMIUM.exists():
        if os.environ.get("CROSSCLR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but CROSSCLR_REQUIRE_BROWSER=1: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); "
                    "set CROSSCLR_REQUIRE_BROWSER=1 to fail instead")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (it is in requirements.txt)")


def _prepare_notebook(root: Path, mark: str) -> Path:
    """A copy of notebook 02 with its CI parameters and interactive=True injected, plus the probe cell
    printing ``mark`` (a new mark per attempt, so no stale output can pass for a fresh one)."""
    parameters = {**nbs.CI_PARAMETERS.get("02", {}), "interactive": True}
    return lab_browser.prepare_notebook(TARGET, root, parameters, nbs.KERNEL_NAME,
                                        (PROBE.format(mark=mark, name=SLIDER_NAME),))


def _plot_src(widget) -> str:
    """The image the explorer shows now (its source URL)."""
    img = widget.locator(".crossclr-explorer-view img").last
    img.wait_for(timeout=30_000)
    return img.get_attribute("src")


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "element is not rendered"
    return box


def _inside(box: dict, viewport: dict) -> bool:
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5
            and box["y"] + box["height"] <= viewport["height"] + 0.5)


def _drive(page, url: str, notebook: str, mark: str) -> dict:
    lab_browser.open_and_run_all(page, url, notebook, mark)   # the last cell ran: every cell before it is done
    probe_output = page.locator(".jp-OutputArea-output", has_text=mark)
    widget = page.locator(".crossclr-explorer").first
    controls = widget.locator(".crossclr-explorer-controls").first
    slider = controls.locator(".widget-slider", has_text=SLIDER_NAME).first
    before_value = slider.locator(".widget-readout").inner_text()
    before_plot = _plot_src(widget)

    # the layout a learner sees: scroll the explorer's top to the top of the notebook, measure what is on screen
    widget.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    layout = {"controls": _box(controls), "figure": _box(widget.locator(".crossclr-explorer-view img").last),
              "viewport": page.viewport_size}
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT.with_name("02_explorer_1280x720.png")), full_page=False)

    handle = slider.locator(".noUi-handle").first
    handle.focus()                               # keyboard focus only: a click could move the handle
    handle.press("ArrowRight")
    page.wait_for_function("([el, v]) => el.innerText !== v",
                           arg=[slider.locator(".widget-readout").element_handle(), before_value], timeout=10_000)
    after_value = slider.locator(".widget-readout").inner_text()
    deadline = time.monotonic() + 30
    after_plot = _plot_src(widget)
    while after_plot == before_plot and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        after_plot = _plot_src(widget)
    lab_browser.wait_idle(page, 30_000)

    # ask the kernel: re-run the probe cell (the notebook's last cell)
    page.locator(".jp-Cell").last.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(f"""() => {{
        const outs = [...document.querySelectorAll('.jp-OutputArea-output')]
            .filter(o => o.innerText.includes('{mark}'));
        return outs.length && outs[outs.length - 1].innerText.includes({json.dumps(after_value.strip())});
    }}""", timeout=20_000)
    kernel_line = probe_output.last.inner_text()
    slider.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    return {"before_value": before_value, "after_value": after_value, "plot_changed": after_plot != before_plot,
            "kernel": kernel_line, "layout": layout}


def test_slider_moves_plot_and_kernel_in_jupyterlab(tmp_path):
    _require_browser()
    if not TARGET.exists():
        pytest.fail(f"{TARGET} is missing: the browser test drives notebook 02 (run the notebooks sync)")
    from playwright.sync_api import Error as PlaywrightError

    nbs.ensure_kernel()
    root = tmp_path / "lab"
    root.mkdir()
    outcome = None
    with lab_browser.session(root, lab_browser.private_env(tmp_path), tmp_path / "lab.log") as (browser, url):
        for attempt in (1, 2):           # Lab may restart the kernel on the very first open: retry once
            mark = f"BROWSER-PROBE-{attempt}"
            notebook = _prepare_notebook(root, mark)     # a fresh copy: no outputs a save may have left
            page = browser.new_page(viewport=VIEWPORT)
            try:
                start = time.monotonic()
                outcome = _drive(page, url, notebook.name, mark)
                print(f"attempt {attempt}: {time.monotonic() - start:.1f} s in the browser; {outcome}")
                break
            except PlaywrightError as err:
                if attempt == 2:
                    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOT.with_name("02_loss_explorer_failed.png")))
                    raise AssertionError(f"browser test failed twice; last error: {err}\nserver log:\n"
                                         f"{(tmp_path / 'lab.log').read_text()[-3000:]}") from err
            finally:
                page.close()
    layout = outcome["layout"]
    for part in ("controls", "figure"):
        assert _inside(layout[part], VIEWPORT), f"the explorer's {part} do not fit a 1280×720 window: {layout}"
    assert layout["controls"]["x"] + layout["controls"]["width"] <= layout["figure"]["x"] + 1, \
        f"the controls must sit in a column beside the figure: {layout}"
    assert layout["figure"]["width"] >= 600, f"the figure is squeezed too small to read: {layout}"
    assert outcome["after_value"] != outcome["before_value"]
    assert outcome["plot_changed"], "the τ slider moved but the plot did not change"
    assert outcome["kernel"].split() == [mark, outcome["after_value"].strip()], outcome
    assert SCREENSHOT.exists()
