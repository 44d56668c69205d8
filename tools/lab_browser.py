"""JupyterLab in a headless Chromium, for the browser test and the widget latency benchmark.

A private JupyterLab server (every Jupyter/IPython/matplotlib/XDG folder in a temporary directory, no token, no
news toast), a notebook copy with parameters injected by papermill, and the page steps both users share: open,
wait for the kernel, collapse the file browser, run all cells. Needs Debian's ``chromium`` (``apt-get install -y
chromium``) and the ``playwright`` package (never ``playwright install``: the system browser is used).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_env(tmp: Path, pythonpath: str | None = None) -> dict:
    """This process's environment with every Jupyter/IPython/matplotlib/XDG folder inside ``tmp``, one OpenMP
    thread for the kernel, and ``pythonpath`` (the code the kernel imports) when given."""
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "JUPYTER_CONFIG_DIR",
                 "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        env[name] = str(tmp / name.lower())
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    os.chmod(env["XDG_RUNTIME_DIR"], 0o700)
    labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"          # no "news" toast over the notebook
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["OMP_NUM_THREADS"] = "1"      # the kernel's tiny models: one thread is fastest on two busy cores
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def prepare_notebook(source: Path, root: Path, parameters: dict, kernel_name: str, extra_cells: tuple = ()) -> Path:
    """A copy of ``source`` in ``root`` with ``parameters`` injected (papermill) and ``extra_cells`` (code)
    appended."""
    import nbformat
    import papermill

    out = root / source.name
    papermill.execute_notebook(str(source), str(out), parameters=parameters, prepare_only=True,
                               kernel_name=kernel_name, progress_bar=False)
    node = nbformat.read(out, as_version=4)
    node.cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    nbformat.write(node, out)
    return out


def start_lab(root: Path, env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    """A JupyterLab server on ``root``: ``(process, url)`` once it answers."""
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
                             "--port", str(port), "--ServerApp.port_retries=0", "--IdentityProvider.token=",
                             "--ServerApp.password=", f"--ServerApp.root_dir={root}",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90         # a loaded 2-core machine can take a minute
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"JupyterLab did not answer within 90 s:\n{log_path.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()            # the server shuts its kernels down on SIGTERM
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def session(root: Path, env: dict, log_path: Path, log=print) -> Iterator[tuple[object, str]]:
    """``(browser, url)``: a JupyterLab server on ``root`` and a headless Chromium, both closed on exit."""
    from playwright.sync_api import sync_playwright

    start = time.monotonic()
    proc, url = start_lab(root, env, log_path)
    log(f"JupyterLab up in {time.monotonic() - start:.1f} s")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser, url
            finally:
                browser.close()
    finally:
        stop(proc)


def wait_idle(page, timeout_ms: int) -> None:
    """Until the kernel status reads Idle (then a short pause: Lab may restart a kernel on first open)."""
    page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for(timeout=timeout_ms)
    page.wait_for_timeout(1000)
    page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for(timeout=timeout_ms)


def collapse_left_sidebar(page) -> None:
    """Close the file browser panel (click its active tab), so the notebook gets the window's width."""
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()
        page.wait_for_timeout(300)


def open_and_run_all(page, url: str, notebook: str, done_text: str, timeout_ms: int = 180_000) -> None:
    """Open ``notebook``, wait for its kernel, run all cells, wait until an output shows ``done_text``."""
    page.goto(f"{url}/lab/tree/{notebook}", wait_until="domcontentloaded")
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    collapse_left_sidebar(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.locator(".jp-OutputArea-output", has_text=done_text).first.wait_for(timeout=timeout_ms)
