#!/usr/bin/env bash
# Render docs/*.dot to docs/*.svg with Graphviz (Debian's `graphviz`, installed here if `dot` is
# missing). `docs/diagrams.sh --install` only installs it. tests/docs/test_diagrams.py renders
# each source again and fails when a committed SVG differs.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v dot >/dev/null; then
  echo "[diagrams] installing graphviz (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq graphviz >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
fi
[ "${1:-}" = "--install" ] && exit 0
for src in *.dot; do
  dot -Tsvg "$src" -o "${src%.dot}.svg"
  echo "[diagrams] docs/${src%.dot}.svg"
done
