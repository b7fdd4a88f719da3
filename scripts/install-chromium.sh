#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/e2e/test_browser.py drives it with Playwright's
# executable_path, so no browser build is ever downloaded). Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: /usr/bin/chromium is missing and apt-get is not available." >&2
  echo "fix: install Chromium with your package manager; the browser test is skipped without it." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian's chromium package (log: /tmp/install-chromium.log)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update >/tmp/install-chromium.log 2>&1
$SUDO apt-get install -y --no-install-recommends chromium >>/tmp/install-chromium.log 2>&1 \
  || { tail -20 /tmp/install-chromium.log >&2; echo "error: apt-get install chromium failed" >&2; exit 1; }
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null) at /usr/bin/chromium"
