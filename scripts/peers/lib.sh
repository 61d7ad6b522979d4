# Shared by the peer build scripts (source it): the Go toolchain check and the one-build-at-a-time lock.

# require_go NAME WHAT: exit 1 with a clear message unless Go >= 1.26 is on PATH.
require_go() {
  local name="$1" what="$2" minor
  if ! command -v go >/dev/null 2>&1; then
    echo "$name: 'go' is not on PATH; Go >= 1.26 is needed to build $what." >&2
    exit 1
  fi
  minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
  if [[ ! "$minor" =~ ^[0-9]+$ ]] || ((minor < 26)); then
    echo "$name: $(go env GOVERSION) is too old; $what needs Go >= 1.26." >&2
    exit 1
  fi
}

# lock_output_dir DIR: create DIR and hold an exclusive lock on it until the script exits
# (parallel runs may all call the same build).
lock_output_dir() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi
}
