#!/usr/bin/env bash
# The dashboard's browser libraries: installs what package-lock.json pins from npm and copies
# the files the worker serves into DEST (default streams/web/static/vendor). Run by
# `make vendor` (so by `make venv`, `make run`, `make test`) and by the Dockerfile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dest=${1:-streams/web/static/vendor}
command -v npm >/dev/null || { echo "vendor: npm is needed (apt-get install npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --ignore-scripts --silent
rm -rf "$dest" && mkdir -p "$dest"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \
   node_modules/d3-array/dist/d3-array.min.js node_modules/d3-geo/dist/d3-geo.min.js \
   node_modules/topojson-client/dist/topojson-client.min.js \
   node_modules/world-atlas/countries-110m.json "$dest/"
