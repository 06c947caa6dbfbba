# Sourced by scripts that install Debian packages; the caller defines say and die.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  say "installing $* from Debian packages"
  # One install at a time: test files run in parallel, and a second apt-get fails at once on
  # the lock the first holds instead of waiting for it.
  {
    flock 9
    # Package lists may be missing on a fresh machine; refresh them once per script run.
    if [ -z "${apt_updated:-}" ]; then as_root apt-get update -qq; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  } 9>"${TMPDIR:-/tmp}/fluxgate-apt.lock"
  apt_updated=1
}
