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
