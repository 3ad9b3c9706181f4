"""`dvc plots show` draws every declared plot with no network (issue 23).

DVC's own page loads Vega, Vega-Lite and Vega-Embed from cdn.jsdelivr.net, so offline it is
blank. The project's page (.dvc/config `[plots] html_template` -> .dvc/plots/offline.html, built
by tools/vendor_vega.py) carries them inline. In a copy of the project this runs
`dvc plots show`, opens the page in headless Chromium with the network cut off, and checks that
each plot `dvc plots show --json` lists is drawn: a Vega chart with data marks, or a loaded
image. The plots are DVC's list, never one written here, so declarations can change freely.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.browser import headless_chromium
from tests.integration.conftest import run

pytestmark = pytest.mark.integration

# Before any page script runs: record page errors, and wrap vegaEmbed (the vendored or CDN
# build sets window.vegaEmbed) to count, per plot div, the data-mark items each chart drew.
INSTRUMENT = """
window.__pageErrors = [];
window.__failedLoads = [];  // <script src>, <img src>, <link href> that did not load
window.addEventListener('error', e => {
  const t = e.target;
  if (t && t !== window) window.__failedLoads.push(t.src || t.href || t.tagName);
  else window.__pageErrors.push(String(e.message));
}, true);
window.addEventListener('unhandledrejection', e => window.__pageErrors.push(String(e.reason)));
window.__embeds = {};
function __drawnItems(mark) {  // items of data marks (not axes, legends) with a finite extent
  let n = 0;
  for (const item of mark.items || []) {
    const b = item.bounds;
    if (mark.role === 'mark' && b && Number.isFinite(b.x1) && Number.isFinite(b.y2)) n += 1;
    for (const child of item.items || []) n += __drawnItems(child);
  }
  return n;
}
(function () {
  let wrapped;
  Object.defineProperty(window, 'vegaEmbed', {
    configurable: true,
    get() { return wrapped; },
    set(embed) {
      wrapped = function (el, spec, opts) {
        const id = String(el).replace(/^#/, '');
        window.__embeds[id] = null;
        const done = embed(el, spec, opts);
        done.then(r => { window.__embeds[id] = {items: __drawnItems(r.view.scenegraph().root)}; },
                  e => { window.__embeds[id] = {error: String(e)}; });
        return done;
      };
      Object.assign(wrapped, embed);
    },
  });
})();
"""

# Per plot div of the page: what it shows.
INSPECT = """
return [...document.querySelectorAll('main.plots > div[id], body > div[id]')].map(d => ({
  id: d.id,
  charts: [...d.querySelectorAll('canvas, svg.marks')].map(c => {
    const r = c.getBoundingClientRect(); return [c.tagName, r.width, r.height]; }),
  images: [...d.querySelectorAll('img')].map(i => [i.getAttribute('src'), i.complete,
                                                   i.naturalWidth]),
}));
"""


def tiny_png(path: Path, size: int = 8) -> None:
    """A small solid PNG (standard library only): stands in for a DVC-cached image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes((200, 60, 60)) * size for _ in range(size))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def plots_json(project: Path, out: Path) -> dict:
    proc = run(["dvc", "plots", "show", "--json", "-o", str(out)], project, timeout=120)
    return json.loads(proc.stdout)


def declared_plots(project: Path, out: Path) -> tuple[dict[str, str], list[dict]]:
    """{plot name: "vega" | "image"} that `dvc plots show --json` lists, and its errors. Images
    are DVC-cached (absent in a clean clone): a missing one gets a tiny stand-in PNG first."""
    from dvc_render.image import ImageRenderer

    shown = plots_json(project, out)
    missing = {
        error["source"]
        for error in shown.get("errors", [])
        if error.get("type") == "FileNotFoundError"
        and Path(error.get("source", "")).suffix.lower() in ImageRenderer.EXTENSIONS
    }
    if missing:
        for source in missing:
            tiny_png(project / source)
        shown = plots_json(project, out)
    kinds = {name: {r["type"] for r in renders} for name, renders in shown["data"].items()}
    errors = shown.get("errors", [])
    named = {error.get("name") for error in errors}
    empty = [name for name, kind in kinds.items() if not kind and name not in named]
    errors += [{"name": name, "msg": "DVC lists it with nothing to draw"} for name in empty]
    assert all(len(kind) <= 1 for kind in kinds.values()), kinds
    return {name: kind.pop() for name, kind in kinds.items() if kind}, errors


class RemoteRefs(HTMLParser):
    """Every src / href (not <a> links) that would fetch from another host."""

    def __init__(self):
        super().__init__()
        self.remote: list[str] = []
        self.vendored: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "data-vendored" in attrs:
            self.vendored.append(attrs["data-vendored"])
        for name in ("src", "href", "srcset", "data"):
            value = (attrs.get(name) or "").strip().lower()
            if tag != "a" and value.startswith(("http:", "https:", "//")):
                self.remote.append(f"<{tag} {name}={value}>")


def remote_refs(html: str) -> RemoteRefs:
    parser = RemoteRefs()
    parser.feed(html)
    return parser


@contextmanager
def probe_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server with one script (it sets window.__reached), and the paths asked
    for: shows whether the browser could reach any network at all."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"window.__reached = true;"
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/probe.js", hits
    finally:
        server.shutdown()
        server.server_close()


def cut_network(driver) -> None:
    """Refuse every network request from now on (file:// pages still load), and instrument
    each page before its scripts run."""
    driver.execute_cdp_cmd("Network.enable", {})
    # not "*": that refuses file:// images too
    network = ["http://*", "https://*", "ws://*", "wss://*"]
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": network})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INSTRUMENT})


def cut_network_checked(driver, probe: Path) -> None:
    """cut_network, checked: a page that loads a script from a local server runs it before,
    and neither asks for nor runs it after."""
    with probe_server() as (url, hits):
        probe.write_text(f'<script src="{url}"></script>', encoding="utf-8")
        driver.get(probe.as_uri())
        assert driver.execute_script("return window.__reached === true") and len(hits) == 1, (
            f"the probe page never ran its script from {url}: {hits}"
        )
        cut_network(driver)
        driver.get(probe.as_uri())
        reached = driver.execute_script("return window.__reached === true")
        assert not reached and len(hits) == 1, f"a request got through the cut network: {hits}"
    driver.get_log("browser")  # drop the probe's messages


def wait_for_embeds(driver, count: int, timeout: float = 30.0) -> dict:
    """Wait until `count` vegaEmbed calls have settled; return {div id: {items | error}}."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(drv):
        embeds = drv.execute_script("return window.__embeds || {}")
        done = len(embeds) >= count and all(v is not None for v in embeds.values())
        return embeds if done else False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(settled)
    except TimeoutException:
        embeds = driver.execute_script("return window.__embeds || {}")
        raise AssertionError(f"{count} charts never finished drawing: {embeds}") from None


def test_vendored_template_matches_its_record(root):
    """The inline scripts are the files the template's header names (sha256), in the versions
    DVC's own page loads; one plot_divs placeholder and no scripts placeholder."""
    proc = run([sys.executable, "tools/vendor_vega.py", "--check"], root, check=False)
    assert proc.returncode == 0, proc.stderr


def test_plots_page_draws_offline(project, tmp_path):
    from dvc_render.base import Renderer
    from dvc_render.html import PAGE_HTML

    plots, errors = declared_plots(project, tmp_path / "json")
    if errors:
        pytest.fail(
            "plots declared in dvc.yaml that DVC cannot load:\n"
            + "\n".join(map(json.dumps, errors))
        )
    ids = {Renderer.remove_special_chars(name): kind for name, kind in plots.items()}
    vega = sorted(i for i, kind in ids.items() if kind == "vega")
    images = sorted(i for i, kind in ids.items() if kind == "image")
    assert vega, f"no Vega plots declared: {plots}"

    # the project's page: Vega inline, nothing to fetch
    run(["dvc", "plots", "show", "-o", str(tmp_path / "offline")], project, timeout=120)
    offline = tmp_path / "offline" / "index.html"
    refs = remote_refs(offline.read_text(encoding="utf-8"))
    assert not refs.remote, f"the page fetches from the network: {refs.remote}"
    vendored = sorted(spec.rsplit("@", 1)[0] for spec in refs.vendored)
    assert vendored == ["vega", "vega-embed", "vega-lite"], refs.vendored
    # DVC's default page, as the control: it loads the same libraries from the CDN
    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML, encoding="utf-8")
    run(["dvc", "plots", "show", "-o", str(tmp_path / "cdn"), "--html-template", str(default)],
        project, timeout=120)  # fmt: skip
    cdn = tmp_path / "cdn" / "index.html"
    assert any(
        "cdn.jsdelivr.net" in ref for ref in remote_refs(cdn.read_text(encoding="utf-8")).remote
    )

    driver = headless_chromium()
    try:
        cut_network_checked(driver, tmp_path / "probe.html")
        driver.get(offline.as_uri())
        embeds = wait_for_embeds(driver, len(vega))
        shown = {div["id"]: div for div in driver.execute_script(INSPECT)}
        log = driver.get_log("browser")
        page_errors = driver.execute_script("return window.__pageErrors")
        failed_loads = driver.execute_script("return window.__failedLoads")

        driver.get(cdn.as_uri())
        cdn_shown = driver.execute_script(INSPECT)
        cdn_embed = driver.execute_script("return typeof vegaEmbed")
        cdn_failed = driver.execute_script("return window.__failedLoads")
    finally:
        driver.quit()

    assert sorted(shown) == sorted(ids), f"plot divs {sorted(shown)}, expected {sorted(ids)}"
    for div_id in vega:
        result = embeds.get(div_id)
        assert result and "error" not in result, f"{div_id}: vegaEmbed failed: {result}"
        assert result["items"] > 0, f"{div_id}: the chart drew no data marks (empty plot)"
        charts = shown[div_id]["charts"]
        assert charts and all(w > 0 and h > 0 for _, w, h in charts), f"{div_id}: {charts}"
    for div_id in images:
        imgs = shown[div_id]["images"]
        assert imgs and all(done and width > 0 for _, done, width in imgs), f"{div_id}: {imgs}"
        assert all(not src.startswith(("http:", "https:", "//")) for src, _, _ in imgs)
    severe = [entry["message"] for entry in log if entry["level"] == "SEVERE"]
    assert not severe and not page_errors, f"errors on the page: {severe} {page_errors}"
    assert not failed_loads, f"the page failed to load {failed_loads}"

    # DVC's own page, network off: its CDN scripts fail and it draws nothing, so the offline
    # page owes its charts to the inline scripts.
    assert cdn_embed == "undefined"
    assert not any(div["charts"] for div in cdn_shown), cdn_shown
    assert any("cdn.jsdelivr.net" in url for url in cdn_failed), cdn_failed
