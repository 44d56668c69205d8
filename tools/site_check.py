"""Check a built site in Debian's Chromium: every page loads cleanly, notebook pages show their figures, internal
links resolve, the search finds a word.

    python -m tools.site_check site/          # exit 1 listing each problem

The site is served by ``http.server`` on 127.0.0.1 and driven with playwright (never a downloaded browser: the
executable is ``/usr/bin/chromium``, ``apt-get install -y chromium``). Problems reported:

- a console error, an uncaught page exception, a failed request or an HTTP status >= 400 while a page loads;
- an internal link (``<a href>`` on the same server) that answers 404;
- an image that did not load (``naturalWidth == 0``), or an "Error displaying widget" box in a cell's output;
- a notebook page showing fewer figures (output images loaded, with non-zero size on the page) than its executed
  notebook (the site's copy under ``_sources/notebooks/``) has image outputs, or a notebook whose figures came
  out as text only (``<Figure size 800x320 with 1 Axes>``: shown without the inline backend);
- a search for the search word (typed into the search box) that lists no result.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEARCH_WORD = "connectivity"
IMAGE_MIME_PREFIX = "image/"
FIGURE_REPR = re.compile(r"^<(matplotlib\.figure\.)?Figure size \d+x\d+ with \d+ Axes>$")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):   # noqa: A002 (the base class's signature)
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):   # the browser closing a connection early is no problem
        pass


@contextmanager
def serve(folder: Path):
    """``folder`` served on 127.0.0.1 (a free port) in a background thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pages(site: Path) -> list[str]:
    """Every HTML page of the site (paths relative to it), theme assets under ``_static/`` excluded."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if "_static" not in p.relative_to(site).parts)


def _outputs(source: Path) -> list[dict]:
    node = json.loads(source.read_text(encoding="utf-8"))
    return [out for cell in node["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", [])]


def _executed_notebooks(site: Path) -> list[Path]:
    return sorted((site / "_sources" / "notebooks").glob("*.ipynb"))


def expected_figures(site: Path) -> dict[str, int]:
    """``{notebook page: image outputs of its executed notebook}`` from the site's ``_sources/notebooks/*.ipynb``."""
    return {f"notebooks/{source.stem}.html": sum(any(k.startswith(IMAGE_MIME_PREFIX) for k in out.get("data", {}))
                                                  for out in _outputs(source))
            for source in _executed_notebooks(site)}


def text_only_figures(site: Path) -> dict[str, int]:
    """``{notebook page: outputs that are a Figure's text repr with no image}``, where there are any."""
    found = {}
    for source in _executed_notebooks(site):
        data = [out.get("data", {}) for out in _outputs(source)]
        count = sum(1 for d in data if not any(k.startswith(IMAGE_MIME_PREFIX) for k in d)
                    and FIGURE_REPR.match("".join(d.get("text/plain", "")).strip()))
        if count:
            found[f"notebooks/{source.stem}.html"] = count
    return found


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _launch(playwright):
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


# Sphinx's search page has finished once its summary says how many pages it found (or that none matched).
_SEARCH_DONE = ("() => /found|did not match/.test("
                "document.querySelector('#search-results .search-summary')?.innerText || '')")

# What a page shows: images (loaded? size?), notebook output figures, links.
_PAGE_FACTS = """() => {
  const size = (img) => { const r = img.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const imgs = Array.from(document.images);
  return {
    broken: imgs.filter(i => i.complete && i.naturalWidth === 0 && i.getAttribute('src'))
                .map(i => i.getAttribute('src')),
    figures: Array.from(document.querySelectorAll('.cell_output img'))
                .filter(i => i.naturalWidth > 0 && size(i)).length,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    widgetErrors: Array.from(document.querySelectorAll('.cell_output'))
                    .map(e => (e.innerText.match(/Error displaying widget/g) || []).length).reduce((a, b) => a + b, 0),
  };
}"""


def check_pages(page, base: str, site: Path, problems: list[str], only: list[str] | None = None) -> None:
    """Load every page (or those in ``only``); record console errors, failed requests, broken images, missing
    figures and the internal links that answer 404."""
    figures = expected_figures(site)
    if not figures:
        problems.append("no executed notebooks under _sources/notebooks/: the site has no notebook pages")
    problems += [f"{name}: {count} figures came out as text only (shown without the inline backend)"
                 for name, count in text_only_figures(site).items() if not only or name in only]
    current = {"page": ""}
    page.on("console", lambda m: m.type == "error" and problems.append(
        f"{current['page']}: console error: {m.text} ({m.location.get('url') or 'no url'})"))
    page.on("pageerror", lambda e: problems.append(f"{current['page']}: page exception: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"{current['page']}: request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(
        f"{current['page']}: HTTP {r.status} for {r.url}"))
    links: dict[str, str] = {}
    for name in only or pages(site):
        current["page"] = name
        page.goto(f"{base}/{name}", wait_until="load")      # "load": after every image has loaded or failed
        facts = page.evaluate(_PAGE_FACTS)
        problems += [f"{name}: image did not load: {src}" for src in facts["broken"]]
        if facts["widgetErrors"]:
            problems.append(f"{name}: {facts['widgetErrors']} 'Error displaying widget' boxes")
        if name in figures and facts["figures"] < figures[name]:
            problems.append(f"{name}: shows {facts['figures']} figures, its executed notebook has {figures[name]}")
        for href in facts["links"]:
            url = urldefrag(href).url
            if url.startswith(base + "/"):
                links.setdefault(url, name)
    missing = sorted(set(figures) - set(pages(site)))
    problems += [f"{name}: no page for the executed notebook {name[:-5]}.ipynb" for name in missing]
    for url, source in sorted(links.items()):
        status = _status(url)
        if status >= 400:
            problems.append(f"{source}: link to {urlsplit(url).path} answers {status}")


def check_search(page, base: str, word: str, problems: list[str]) -> None:
    """Type ``word`` into the search box of the home page; the results page must list at least one page."""
    page.goto(f"{base}/index.html", wait_until="load")
    box = page.locator("input[name='q']").first
    if not box.is_visible():
        page.keyboard.press("Control+k")        # the theme's search dialog
    try:
        box = page.locator("input[name='q']:visible").first
        box.fill(word)
        box.press("Enter")
        page.wait_for_url("**/search.html*", timeout=15_000)
        summary = page.locator("#search-results .search-summary")      # Sphinx's text once the search is done
        page.wait_for_function(_SEARCH_DONE, timeout=30_000)
        hits = page.locator("#search-results ul.search li a").count()
    except Exception as err:   # playwright's TimeoutError, or no search box at all
        problems.append(f"search for {word!r} did not finish: {type(err).__name__}: {str(err).splitlines()[0]}")
        return
    if not hits:
        problems.append(f"search for {word!r} found nothing: {summary.inner_text().strip()}")


def check_site(site: str | Path, word: str | None = SEARCH_WORD, only: list[str] | None = None,
               screenshots: Path | None = None) -> list[str]:
    """Every problem found in the built site at ``site`` (an empty list: the site is good).

    ``only``: check just these pages (paths relative to the site) instead of all; ``word=None`` skips the search.
    With ``screenshots``, saves a PNG of the home page, each notebook page's top and the search results there.
    """
    from playwright.sync_api import sync_playwright

    site = Path(site)
    if not (site / "index.html").is_file():
        return [f"{site}/index.html is missing: build the site first (make site)"]
    problems: list[str] = []
    with serve(site) as base, sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            check_pages(page, base, site, problems, only)
            if word:
                check_search(page, base, word, problems)
            if screenshots:
                take_screenshots(browser, base, site, Path(screenshots))
        finally:
            browser.close()
    return problems


def take_screenshots(browser, base: str, site: Path, folder: Path) -> list[Path]:
    """PNGs of the home page, every notebook page (top of the page) and a search for :data:`SEARCH_WORD`."""
    folder.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    shots = []
    targets = [("index", "index.html")] + [(Path(n).stem, n) for n in expected_figures(site)] + \
              [("search", f"search.html?q={SEARCH_WORD}")]
    for stem, name in targets:
        # "load": every image and script has loaded or failed (check_pages reports failures). Not "networkidle",
        # which waits for 500 ms of network silence and ran past 30 s on a loaded CI machine.
        page.goto(f"{base}/{name}", wait_until="load")
        if stem == "search":    # the results are filled in by script after the load event
            page.wait_for_function(_SEARCH_DONE, timeout=60_000)
        path = folder / f"{stem}.png"
        page.screenshot(path=str(path))
        shots.append(path)
    page.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.site_check", description=__doc__.split("\n")[0])
    parser.add_argument("site", nargs="?", default="site", help="the built site (default: %(default)s)")
    parser.add_argument("--screenshots", help="also save PNGs of the home page, notebook pages and a search here")
    args = parser.parse_args(argv)
    try:
        problems = check_site(args.site, screenshots=Path(args.screenshots) if args.screenshots else None)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    print(f"{len(pages(Path(args.site)))} pages checked: " + (f"{len(problems)} problems" if problems else "all good"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
