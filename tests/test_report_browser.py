"""The report as a reader sees it: opened from file:// in headless Chromium.

Chromium is driven over the DevTools protocol on a websocket bound to 127.0.0.1 (a minimal client
below, so no browser-automation package is needed). For each width — a desktop window and a
laptop split screen (700 px) — the test fails on an image that did not load, a console error or
uncaught exception, an empty section, or a page wider than the window; it saves a full-page
screenshot under pytest's tmp_path and copies it to test-artifacts/ (git-ignored).
A deliberately broken copy of the page shows the checks catch what they claim to.

Skipped, saying why, where Chromium is not installed (Debian: apt-get install chromium).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from powerlaw_stats.report import build_report

pytestmark = pytest.mark.browser

TRIALS = 30  # enough for every panel and table to have content; the numbers are not under test here
WIDTHS = (1200, 700)  # a desktop window; a laptop screen split in two
SECTIONS = ("data", "curves", "least-squares", "irwls", "simulation", "dependence", "floor", "trust", "conclusion")
MIN_SECTION_TEXT = 80  # characters beyond the heading: a section with less says nothing
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
IO_TIMEOUT_S = 60  # a hung browser fails the test instead of hanging it


def chromium_path() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# ----------------------------------------------------------------------------- a minimal DevTools client


class DevTools:
    """Just enough of RFC 6455 and the DevTools protocol: masked text frames out, frames in."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0
        self.events: list[dict] = []

    def _send(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("browser closed the DevTools socket")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> dict:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            n = struct.unpack(">H", self._exact(2))[0] if n == 126 else struct.unpack(">Q", self._exact(8))[0] if n == 127 else n
            message += self._exact(n)
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        self._send(json.dumps(msg))
        while True:
            reply = self._recv()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            e = self._recv()
            if e.get("method") == method:
                return e
            self.events.append(e)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = chromium_path()
    if exe is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM=/path)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    for _ in range(IO_TIMEOUT_S * 10):
        if port_file.exists() and len(port_file.read_text().split("\n")) >= 2:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("Chromium started but never opened its DevTools port")
    port, path = port_file.read_text().split("\n")[:2]
    tools = DevTools(int(port), path)
    yield tools
    tools.sock.close()
    proc.terminate()
    proc.wait(timeout=IO_TIMEOUT_S)


# ----------------------------------------------------------------------------- checks in the page

PAGE_CHECKS = """(() => {
  const broken = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.alt || i.src.slice(0, 40));
  const sections = Array.from(document.querySelectorAll('main > section')).map(s => {
    const h = s.querySelector('h2');
    const text = s.innerText.replace(h ? h.innerText : '', '').trim();
    return {id: s.id, chars: text.length, figures: s.querySelectorAll('img').length, tables: s.querySelectorAll('table').length};
  });
  const wide = Array.from(document.querySelectorAll('img, figure, p, h1, h2, h3, pre, .table-wrap'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '#' + (e.id || e.className));
  return JSON.stringify({broken, sections, wide, images: document.images.length,
                         pageWidth: document.documentElement.scrollWidth, viewWidth: window.innerWidth,
                         external: Array.from(document.querySelectorAll('[src],[href]'))
                           .map(e => e.getAttribute('src') || e.getAttribute('href'))
                           .filter(u => /^(https?:)?\\/\\//.test(u))});
})()"""


def open_page(tools: DevTools, url: str, width: int) -> tuple[str, dict]:
    target = tools.call("Target.createTarget", url="about:blank")["targetId"]
    session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        tools.call(f"{domain}.enable", session)
    tools.call("Emulation.setDeviceMetricsOverride", session, width=width, height=900, deviceScaleFactor=1, mobile=False)
    tools.events.clear()
    tools.call("Page.navigate", session, url=url)
    tools.wait_for("Page.loadEventFired")
    result = tools.call("Runtime.evaluate", session, expression=PAGE_CHECKS, returnByValue=True)
    return session, json.loads(result["result"]["value"])


def console_errors(tools: DevTools) -> list[str]:
    out = []
    for e in tools.events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e.get("method") == "Runtime.exceptionThrown":
            out.append(p["exceptionDetails"].get("text", "exception"))
        elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(p["entry"]["text"])
    return out


def screenshot(tools: DevTools, session: str, width: int, dest: Path) -> Path:
    height = tools.call("Page.getLayoutMetrics", session)["cssContentSize"]["height"]
    shot = tools.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
    dest.write_bytes(base64.b64decode(shot["data"]))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(dest, ARTIFACTS / dest.name)
    return dest


def problems(found: dict, errors: list[str]) -> list[str]:
    """Everything a reader would notice as broken, as readable lines."""
    out = [f"image did not load: {b}" for b in found["broken"]]
    out += [f"console error: {e}" for e in errors]
    out += [f"section {s['id']!r} is empty ({s['chars']} characters)" for s in found["sections"] if s["chars"] < MIN_SECTION_TEXT]
    out += [f"wider than the window: {w}" for w in found["wide"]]
    if found["pageWidth"] > found["viewWidth"]:
        out.append(f"page scrolls sideways: {found['pageWidth']} px in a {found['viewWidth']} px window")
    out += [f"loads from the network: {u}" for u in found["external"]]
    return out


# ----------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    return build_report(trials=TRIALS).write(tmp_path_factory.mktemp("browser") / "report")


@pytest.mark.parametrize("width", WIDTHS)
def test_report_renders_clean(browser, report_dir, tmp_path, width):
    session, found = open_page(browser, (report_dir / "index.html").as_uri(), width)
    errors = console_errors(browser)
    shot = screenshot(browser, session, width, tmp_path / f"report-{width}px.png")
    assert shot.stat().st_size > 10_000
    assert [s["id"] for s in found["sections"]] == list(SECTIONS)
    figures = {s["id"]: s["figures"] for s in found["sections"]}
    assert figures["simulation"] >= 5, figures  # a panel figure per scenario and the summary
    assert found["images"] == len(list((report_dir / "figures").iterdir())), figures  # every figure written is on the page
    assert all(s["figures"] + s["tables"] > 0 for s in found["sections"]), found["sections"]
    assert problems(found, errors) == []


def test_checks_catch_a_broken_page(browser, report_dir, tmp_path):
    page = (report_dir / "index.html").read_text()
    broken = page.replace("</main>", '<section id="extra"><h2>7. Empty</h2></section>'
                                     '<img src="figures/no-such-figure.png" alt="missing figure">'
                                     '<div style="width: 2000px">a fixed-width block</div>'
                                     "<script>console.error('boom')</script></main>")
    bad = tmp_path / "broken.html"
    bad.write_text(broken)
    _, found = open_page(browser, bad.as_uri(), 700)
    lines = problems(found, console_errors(browser))
    assert any("image did not load: missing figure" in x for x in lines), lines
    assert any("console error: boom" in x for x in lines), lines
    assert any("section 'extra' is empty" in x for x in lines), lines
    assert any("page scrolls sideways" in x for x in lines), lines


TABLE_CHECKS = """(() => JSON.stringify(Array.from(document.querySelectorAll('.table-wrap')).map(w => ({
  caption: (w.querySelector('caption') || {innerText: ''}).innerText.slice(0, 60),
  header: Array.from(w.querySelectorAll('thead th')).map(h => h.innerText),
  client: w.clientWidth, scroll: w.scrollWidth, overflowX: getComputedStyle(w).overflowX,
  attachment: getComputedStyle(w).backgroundAttachment}))))()"""


def coefficient_tables(tools: DevTools, url: str, width: int) -> list[dict]:
    session, _ = open_page(tools, url, width)
    result = tools.call("Runtime.evaluate", session, expression=TABLE_CHECKS, returnByValue=True)
    tables = json.loads(result["result"]["value"])
    return [t for t in tables if "Pr(>|t|)" in t["header"]]


def test_coefficient_tables_fit_a_desktop_window(browser, report_dir):
    # issue 12: at 1280 px the t value and Pr(>|t|) columns were cut off inside a scroll box
    tables = coefficient_tables(browser, (report_dir / "index.html").as_uri(), 1280)
    assert len(tables) >= 4  # least squares, Huber, bisquare, MM
    cut = [f"{t['caption']!r}: {t['scroll']} px in {t['client']} px" for t in tables if t["scroll"] > t["client"] + 1]
    assert cut == []


def test_coefficient_tables_scroll_visibly_on_a_phone(browser, report_dir):
    # at 390 px a seven-column table cannot fit: it must scroll inside its box (the page itself does
    # not), with edge shadows (background-attachment local + scroll) saying there is more to see
    tables = coefficient_tables(browser, (report_dir / "index.html").as_uri(), 390)
    assert tables
    for t in tables:
        assert t["overflowX"] == "auto", t
        assert "local" in t["attachment"] and "scroll" in t["attachment"], t
