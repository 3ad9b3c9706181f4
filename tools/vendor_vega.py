"""Rebuild .dvc/plots/offline.html: the page `dvc plots show` fills (.dvc/config, [plots]
html_template), with Vega, Vega-Lite and Vega-Embed inline so its charts draw with no network.
DVC's own page loads them from cdn.jsdelivr.net, and is blank offline (issue 23).

    python tools/vendor_vega.py           # `npm pack` the three packages, write the page
    python tools/vendor_vega.py --check   # offline: the page's scripts match the sha256 it records

The versions are the ones DVC's page loads (dvc_render's VegaRenderer.SCRIPTS), and the files the
ones cdn.jsdelivr.net serves for them (each package.json's `jsdelivr` field), byte for byte.
Needs only the standard library and `npm` (which reaches the npm registry).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / ".dvc" / "plots" / "offline.html"
# Load order matters: vega-lite needs vega, vega-embed needs both.
PACKAGES = (("vega", "5.20.2"), ("vega-lite", "5.2.0"), ("vega-embed", "6.18.2"))
TITLE = "transformer-mlops: DVC plots"
# What DVC's HTML.embed replaces (str.replace, every occurrence): the page must hold exactly one
# plot_divs and no scripts placeholder (DVC would put its CDN tags there).
PLOTS, SCRIPTS, REFRESH = "{plot_divs}", "{scripts}", "{refresh_tag}"
# <script data-vendored="vega@5.20.2">...</script>: how --check finds each embedded file.
VENDORED = re.compile(r'<script data-vendored="([^"]+)">(.*?)</script>', re.S)
HEADER_LINE = re.compile(r"^  (\S+@\S+)\s+(\S+)\s+sha256 ([0-9a-f]{64})$", re.M)

STYLE = """\
  :root { color-scheme: light; }
  body { margin: 0; background: #f4f5f7; color: #1f2328;
         font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { padding: 14px 24px; background: #fff; border-bottom: 1px solid #d0d7de; }
  header h1 { margin: 0; font-size: 20px; }
  header p { margin: 4px 0 0; color: #57606a; }
  main.plots { display: grid; gap: 16px; padding: 16px 24px;
               grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); }
  main.plots > div { min-width: 0; overflow: auto; padding: 12px; background: #fff;
                     border: 1px solid #d0d7de !important; border-radius: 6px; }
  main.plots img { max-width: 100%; height: auto; }
  main.plots p { margin: 0 0 6px; font-weight: 600; white-space: normal; }"""


def npm_pack(name: str, version: str, into: Path) -> tuple[Path, str]:
    """Fetch name@version's tarball from the registry (npm checks its integrity); return the
    tarball and that integrity (sha512)."""
    proc = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--ignore-scripts"],
        cwd=into,
        capture_output=True,
        text=True,
        check=True,
    )
    (packed,) = json.loads(proc.stdout)
    if packed["version"] != version:
        raise SystemExit(f"npm gave {name}@{packed['version']}, not {version}")
    return into / packed["filename"], packed["integrity"]


def fetch(name: str, version: str, into: Path) -> dict:
    """The file cdn.jsdelivr.net/npm/name@version serves, from the npm tarball."""
    tarball, integrity = npm_pack(name, version, into)
    with tarfile.open(tarball) as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        path = meta["jsdelivr"]  # e.g. build/vega.min.js
        data = tar.extractfile(f"package/{path}").read()
        license_text = tar.extractfile("package/LICENSE").read().decode()
    js = data.decode("utf-8")
    # Raw text inside <script> ends at "</script" and misparses after "<!--": refuse both, and
    # DVC's placeholders, rather than alter a byte.
    for bad in ("</script", "<!--", PLOTS, SCRIPTS, REFRESH):
        if bad in js.lower():
            raise SystemExit(f"{name}@{version} {path} holds {bad!r}: cannot inline it as is")
    return {
        "spec": f"{name}@{version}",
        "path": path,
        "js": js,
        "sha256": hashlib.sha256(data).hexdigest(),
        "integrity": integrity,
        "license": meta["license"],
        "license_text": license_text.strip(),
    }


def page(files: list[dict]) -> str:
    width = max(len(f["spec"]) for f in files) + 2
    path_width = max(len(f["path"]) for f in files) + 2
    listing = "\n".join(
        f"  {f['spec']:<{width}}{f['path']:<{path_width}}sha256 {f['sha256']}" for f in files
    )
    integrity = "\n".join(f"  {f['spec']:<{width}}{f['integrity']}" for f in files)
    licenses = sorted({f["license"] for f in files})
    if licenses != ["BSD-3-Clause"]:
        raise SystemExit(f"unexpected licenses {licenses}: review before vendoring")
    header = f"""\
<!--
{TITLE}. The page `dvc plots show` fills (.dvc/config: [plots] html_template).
Vega, Vega-Lite and Vega-Embed are inline below, unchanged, so the charts draw offline; DVC's
default page loads the same files from cdn.jsdelivr.net. No scripts placeholder here, so DVC
adds no CDN tag. Generated by tools/vendor_vega.py (make vendor-vega); do not edit by hand.

Files (the package's jsdelivr file, from the npm registry), sha256 of each as published:
{listing}
npm tarball integrity:
{integrity}

Licenses: all three BSD-3-Clause, Copyright (c) University of Washington Interactive Data Lab.
The bundles hold their dependencies too: d3 modules (ISC) in vega; vega-themes and
vega-tooltip (BSD-3-Clause), fast-json-patch and json-stringify-pretty-compact (MIT), semver
(ISC) and tslib (0BSD) in vega-embed. Vega's license:

{files[0]["license_text"]}
-->"""
    if "--" in header[4:-3]:
        raise SystemExit("the header comment would hold '--'")
    scripts = "\n".join(f'<script data-vendored="{f["spec"]}">{f["js"]}</script>' for f in files)
    return f"""<!DOCTYPE html>
{header}
<html lang="en">
<head>
<meta charset="utf-8">
{REFRESH}
<title>{TITLE}</title>
<style>
{STYLE}
</style>
{scripts}
</head>
<body>
<header>
  <h1>{TITLE}</h1>
  <p>Written by <code>dvc plots show</code>; Vega is inline, so this page needs no network.</p>
</header>
<main class="plots">
{PLOTS}
</main>
</body>
</html>
"""


def check(template: Path = TEMPLATE) -> list[str]:
    """What is wrong with the vendored page (empty: nothing): its placeholders, and each inline
    script against the sha256 and version its header records and the versions DVC pins."""
    text = template.read_text(encoding="utf-8")
    problems = []
    if text.count(PLOTS) != 1 or SCRIPTS in text:
        problems.append(f"needs exactly one {PLOTS} and no {SCRIPTS}")
    recorded = {spec: sha for spec, _, sha in HEADER_LINE.findall(text)}
    embedded = {
        spec: hashlib.sha256(js.encode("utf-8")).hexdigest() for spec, js in VENDORED.findall(text)
    }
    wanted = {f"{name}@{version}" for name, version in PACKAGES}
    if set(embedded) != wanted or set(recorded) != wanted:
        problems.append(f"embeds {sorted(embedded)}, records {sorted(recorded)}, wants {wanted}")
    problems += [
        f"{spec}: embedded sha256 {sha} != recorded {recorded.get(spec)}"
        for spec, sha in embedded.items()
        if recorded.get(spec) != sha
    ]
    try:  # the versions DVC's own page loads: its specs are written for them
        from dvc_render.vega import VegaRenderer
    except ImportError:
        return problems
    pinned = set(re.findall(r"npm/([\w-]+@[\w.-]+)", VegaRenderer.SCRIPTS))
    if pinned and pinned != wanted:
        problems.append(
            f"dvc_render loads {sorted(pinned)}: update PACKAGES and run make vendor-vega"
        )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the page, offline")
    parser.add_argument("--output", type=Path, default=TEMPLATE)
    args = parser.parse_args()
    if args.check:
        problems = check(args.output)
        for problem in problems:
            print(f"{args.output}: {problem}", file=sys.stderr)
        return 1 if problems else 0
    with tempfile.TemporaryDirectory() as tmp:
        files = [fetch(name, version, Path(tmp)) for name, version in PACKAGES]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page(files), encoding="utf-8", newline="\n")
    problems = check(args.output)
    if problems:
        raise SystemExit("\n".join(problems))
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({size:,} bytes): " + ", ".join(f["spec"] for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
