#!/usr/bin/env bash
# Build the documentation site and screenshot two pages in headless Chromium (Debian's `chromium`),
# so a person can look at what the site shows: the home page and an API reference page.
# usage: scripts/screenshot_docs.sh [OUT_DIR]   (default docs/figures/site)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/figures/site}
site=$(mktemp -d)/site
mkdir -p "$out"
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet -d "$site"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium not found: apt-get install chromium" >&2
  exit 2
fi
shot() {  # page-path png-name
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1600 \
    --screenshot="$out/$2" "file://$site/$1" >/dev/null 2>&1
  echo "$out/$2"
}
shot index.html home.png
shot reference/multiple-testing/index.html api-multiple-testing.png
