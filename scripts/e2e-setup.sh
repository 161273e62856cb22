#!/usr/bin/env bash
# Installs code-server (the real VS Code workbench, served to a browser) into .cache/code-server/ for the
# end-to-end test. Needs Debian's chromium, libkrb5-dev, build-essential, pkg-config, python3 and ripgrep
# (scripts/setup.sh installs them). code-server's ripgrep package downloads rg from GitHub at install time;
# we seed its download cache with Debian's rg instead. Prints the code-server launcher path on success.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.100.3
PREFIX="$PWD/.cache/code-server/$VERSION"
BIN="$PREFIX/node_modules/code-server/out/node/entry.js"
if [ -f "$PREFIX/.installed" ] && [ -f "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

for tool in rg cc pkg-config python3; do
  command -v "$tool" >/dev/null || { echo "e2e-setup: missing $tool (run scripts/setup.sh)" >&2; exit 2; }
done
[ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || { echo "e2e-setup: missing libkrb5-dev" >&2; exit 2; }

work="$PWD/.cache/code-server/tmp"
rm -rf "$PREFIX" "$work"
mkdir -p "$PREFIX" "$work/ripgrep-cache"
# @vscode/ripgrep 1.15.11 looks for this archive in $TMPDIR/vscode-ripgrep-cache-1.15.11/ before downloading.
cache="$work/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache"
cp "$(command -v rg)" "$work/ripgrep-cache/rg"
tar -C "$work/ripgrep-cache" -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg

echo '{"name":"code-server-cache","private":true}' > "$PREFIX/package.json"
(
  cd "$PREFIX"
  export TMPDIR="$work" HOME="$work/home" XDG_CACHE_HOME="$work/xdg-cache"
  export npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr
  export npm_config_cache="$work/npm-cache" npm_config_fund=false npm_config_audit=false
  mkdir -p "$HOME"
  npm install --no-save --no-package-lock "code-server@$VERSION" >"$work/install.log" 2>&1 || {
    tail -40 "$work/install.log" >&2
    exit 1
  }
)
[ -f "$BIN" ] || { echo "e2e-setup: code-server entry not found after install" >&2; exit 1; }
touch "$PREFIX/.installed"
rm -rf "$work"
echo "$BIN"
