"""Makes docs/review.png, the README's picture of `docclass review`, from the demo's data.

Runs `docclass demo` (its documents, its ReviewMargin, so close calls wait under review/), opens the
review page on the demo's bucket while the stack is still up, and screenshots it with Playwright
on Debian's chromium (/usr/bin/chromium; no browser download). Run it with `make screenshot`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


def shoot(stack: Any, out: Path, width: int, height: int) -> None:
    """Serve the review page on the stack's bucket and save a screenshot of it to out."""
    from playwright.sync_api import sync_playwright

    from docclass.store import ObjectStore
    from docclass_local.review.server import ReviewServer

    server = ReviewServer(ObjectStore(stack.bucket, stack.client("s3")), who="demo", port=0).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server.url)
            page.wait_for_load_state("networkidle")  # every thumbnail drawn
            page.keyboard.press("1")  # the first row with its first candidate picked, as a reviewer sees it
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            rows = page.locator("form.row").count()
            browser.close()
    finally:
        server.stop()
    print(f"wrote {out} ({rows} documents to review on the page)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "review.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    from docclass_local.demo import run_demo

    return run_demo(while_running=lambda stack: shoot(stack, args.out, args.width, args.height))


if __name__ == "__main__":
    sys.exit(main())
