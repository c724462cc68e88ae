"""Open a page in a real headless Chromium, offline, and see what it drew.

Speaks the Chrome DevTools protocol over ``--remote-debugging-pipe`` (file descriptors
3 and 4, NUL-separated JSON), so it needs no Python package and no port: Debian's
``chromium`` is the only requirement. Used by the report's browser test and by the
report benchmark (load time of a large report).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if shutil.which(env) or Path(env).is_file() else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(RuntimeError):
    pass


class _Pipe:
    """One Chromium process and its DevTools pipe; commands block until answered."""

    def __init__(self, executable: str, args: list[str]):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire():  # in the child: the protocol's fds 3 (commands in) and 4 (replies out)
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._waiting: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: queue.Queue = queue.Queue()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace").rstrip())

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in self._waiting:
                    self._waiting[msg["id"]].put(msg)
                else:
                    self.events.put(msg)
        for q in list(self._waiting.values()):
            q.put({"error": {"message": "browser closed the pipe"}})

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict:  # fmt: skip
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            self._waiting[mid] = q = queue.Queue()
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise CDPError(f"{method}: no answer in {timeout:.0f} s") from None
        finally:
            self._waiting.pop(mid, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except CDPError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class PageResult:
    """What a page did: the value of ``probe``, console errors, requests, timings."""

    probe: object
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    ready_s: float = 0.0
    screenshot: Path | None = None

    @property
    def remote_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


def open_page(
    path: str | Path,
    ready: str = "window.reportReady === true",
    probe: str = "null",
    screenshot: str | Path | None = None,
    width: int = 1300,
    max_height: int = 16000,
    timeout: float = 120.0,
    executable: str | None = None,
) -> PageResult:
    """Load ``path`` with the network off; wait until JS ``ready`` is true; evaluate ``probe``.

    The network is cut three ways: DevTools' offline emulation, a host resolver that
    resolves nothing, and a proxy that does not exist. Every request the page makes is
    recorded so a caller can assert it stayed local.
    """
    executable = executable or find_chromium()
    if not executable:
        raise FileNotFoundError("no chromium executable (install Debian's 'chromium' package)")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="ta-chromium-") as profile:
        args = [
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        pipe = _Pipe(executable, args)
        try:
            return _drive(pipe, url, ready, probe, screenshot, width, max_height, timeout)
        finally:
            pipe.close()


def _drive(pipe, url, ready, probe, screenshot, width, max_height, timeout):
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        session=session,
    )
    pipe.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    result = PageResult(probe=None)
    t0 = time.perf_counter()
    pipe.send("Page.navigate", {"url": url}, session=session)
    deadline, first_error = t0 + timeout, None
    while time.perf_counter() < deadline:
        _collect(pipe, result)
        if _eval(pipe, session, f"Boolean({ready})"):
            result.ready_s = time.perf_counter() - t0
            break
        if result.console_errors and first_error is None:
            first_error = time.perf_counter()
        if first_error is not None and time.perf_counter() - first_error > 10:
            break  # an error, then 10 s without getting ready: it will not
        time.sleep(0.05)
    if not result.ready_s:
        _collect(pipe, result)
        raise CDPError(
            f"page not ready after {timeout:.0f} s ({ready}); console errors: "
            f"{result.console_errors[:5]}"
        )
    result.probe = _eval(pipe, session, probe)
    if screenshot is not None:
        size = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        height = int(min(max_height, max(900, size["height"])))
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        time.sleep(0.3)
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        result.screenshot = Path(screenshot)
    _collect(pipe, result)
    return result


def _collect(pipe, result: PageResult) -> None:
    while True:
        try:
            ev = pipe.events.get_nowait()
        except queue.Empty:
            return
        method, params = ev.get("method", ""), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            result.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            exc = d.get("exception", {}).get("description") or d.get("text")
            result.console_errors.append(f"exception: {exc}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            e = params["entry"]
            result.console_errors.append(f"log: {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            result.requests.append(params["request"]["url"])


def _eval(pipe, session, expression: str):
    res = pipe.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    if "exceptionDetails" in res:
        raise CDPError(f"evaluating {expression[:60]!r}: {res['exceptionDetails'].get('text')}")
    return res["result"].get("value")
