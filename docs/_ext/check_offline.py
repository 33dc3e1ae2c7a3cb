"""Check that a built site loads nothing from the network.

``python docs/_ext/check_offline.py docs/_build/html`` lists every script, stylesheet, font,
image or frame that a built page would fetch from another host (``http://``, ``https://`` or
``//``) and exits with status 1 if there is any. Plain links (``<a href>``) are allowed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# src/href of the tags that make a browser fetch something while it shows the page
_FETCHING = re.compile(
    r"<(script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*"
    r"[\"'](?P<url>(?:https?:)?//[^\"']+)[\"']",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"url\(\s*[\"']?(?P<url>(?:https?:)?//[^)\"']+)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+[\"'](?P<url>(?:https?:)?//[^\"']+)", re.IGNORECASE)


def remote_resources(site: Path) -> list[str]:
    """``"page: url"`` for every remote resource of the HTML and CSS files under ``site``."""
    hits = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        patterns = [_FETCHING] if path.suffix == ".html" else [_CSS_URL, _CSS_IMPORT]
        if path.suffix == ".html":  # inline <style> blocks
            patterns += [_CSS_URL, _CSS_IMPORT]
        for pattern in patterns:
            for m in pattern.finditer(text):
                hits.append(f"{path.relative_to(site)}: {m.group('url')}")
    return hits


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "docs/_build/html")
    if not (site / "index.html").is_file():
        print(f"check_offline: no built site at {site}", file=sys.stderr)
        return 2
    hits = remote_resources(site)
    for hit in hits:
        print(f"remote resource: {hit}", file=sys.stderr)
    pages = sum(1 for _ in site.rglob("*.html"))
    print(f"check_offline: {pages} pages, {len(hits)} remote resources")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
