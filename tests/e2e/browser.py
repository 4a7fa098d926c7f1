"""Open a page in headless Chromium with no network at all, and read what it drew and said."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Chromium's own notices on the console, not the page's: an offline machine is "slow network".
BROWSER_NOTICES = re.compile(r"\[Intervention\]|Slow network is detected")
# every host name resolves to nothing: a page that fetches anything fails to draw and says so
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=20000", NO_NETWORK)


@dataclass
class Rendered:
    dom: str
    console: list[str]  # the page's console lines (not the browser's own notices)
    charts: list[str]  # each chart's data-render attribute: "ok", "error" or "pending"


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    assert found, "no headless Chromium on PATH: install Debian's chromium package (.ci/run does)"
    return found


def open_offline(page: Path) -> Rendered:
    done = subprocess.run([browser(), *FLAGS, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=True)  # fmt: skip
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line and not BROWSER_NOTICES.search(line)]
    charts = re.findall(r'<div[^>]*\bid="chart-\d+"[^>]*\bdata-render="(\w+)"', done.stdout)
    return Rendered(done.stdout, console, charts)


def assert_draws_offline(page: Path, min_charts: int = 0) -> Rendered:
    """Every chart drew, nothing went to the console, no script error, and the page names no remote resource."""
    shown = open_offline(page)
    source = page.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="https?://', source), f"{page.name} loads a remote resource"
    assert len(shown.charts) == source.count('class="chart"') >= min_charts, (page.name, shown.charts)
    assert set(shown.charts) <= {"ok"}, (page.name, shown.charts)
    assert not shown.console, (page.name, shown.console)
    assert "data-errors" not in shown.dom, page.name
    return shown


def screenshot(page: Path, out: Path, width: int, height: int) -> Path:
    subprocess.run([browser(), *FLAGS, f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], capture_output=True, timeout=180, check=True)
    return out
