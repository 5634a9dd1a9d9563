"""How we launch Debian's Chromium, in one place for the tests and `inpage bench`."""
import os

CHROMIUM_PATH = os.environ.get("INPAGE_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--enable-unsafe-webgpu",
    # Without these Chromium phones home at start-up; our closed network refuses it, and a privacy
    # test must see only the page's own traffic.
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--no-default-browser-check",
]
