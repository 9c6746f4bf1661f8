"""Opening our HTML pages in a real headless browser (Debian's chromium), for the report tests.

The `browser` fixture (tests/conftest.py) finds or installs chromium;
`open_in_chromium` runs it on one page with every host name unresolvable
and, when asked, a network log; `page_requests` reads from that log the
requests a page made (the browser's own background requests left out);
`Page` parses what the browser (or our renderer) wrote.
"""

import html.parser
import json
import pathlib
import shutil
import subprocess

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots, kept by CI


def chromium():
    """The chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(page_path, profile, *action, net_log=None, fragment=""):
    """Run headless chromium on the page (a pathlib.Path; `fragment`: a
    "#anchor" to open it at), with every host name unresolvable: a page that
    tried to fetch anything from the network could not. `action`: more
    switches (--dump-dom, --screenshot=...). `net_log`: a path to write
    chromium's network log to (read it with `page_requests`). Returns stdout."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
        *([f"--log-net-log={net_log}"] if net_log else []), *action, page_path.as_uri() + fragment,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def page_requests(net_log):
    """The URLs of the network requests that pages made, from a chromium
    network log: every URL request but the browser's own (its background
    services start theirs with the initiator "not an origin"; a page's
    carry the page's origin, "null" for a file:// page). Loading local
    files is no network request and is not in the log."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "url" in params and params.get("initiator") != "not an origin":
            urls.append(params["url"])
    return urls


class Page(html.parser.HTMLParser):
    """The parts of a page the tests look at: text (not the style sheet), elements, attributes."""

    def __init__(self, source):
        super().__init__(convert_charrefs=True)
        self.text, self.tags, self.attributes, self.open, self.elements = [], [], [], [], []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.open.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag):
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data):
        if "style" not in self.open:
            self.text.append(data)

    @property
    def words(self):
        """The page's text, whitespace runs made single spaces."""
        return " ".join(" ".join(self.text).split())

    def with_class(self, name):
        """The attributes of every element whose class list holds `name`, in document order."""
        return [attrs for tag, attrs in self.elements if name in attrs.get("class", "").split()]


def screenshot(page_path, profile, name, height):
    """A PNG of `page_path` as chromium renders it, kept as a test artifact
    (test-artifacts/`name`, 1200 px wide, `height` tall); returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    open_in_chromium(page_path, profile, "--screenshot=" + str(shot), f"--window-size=1200,{height}", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    return shot
