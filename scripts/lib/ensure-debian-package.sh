# Sourced by scripts/ensure-*.sh: find a binary, or install the Debian package
# that provides it (as root, or with passwordless sudo), so the end-to-end tests
# run on a bare Debian/Ubuntu CI host. Nothing is downloaded from anywhere but
# the distribution's own package archive.
#
#   ensure_debian_package DISPLAY ENV_VAR "PACKAGE [EXTRA...]" BINARY [BINARY...]
#
# DISPLAY names the program in the advice ("install DISPLAY or set ENV_VAR");
# ENV_VAR, when set to an executable, wins over any search; the first PACKAGE
# provides the binary, any others are installed alongside; the BINARY names are
# tried in order on PATH, then in /usr/bin and /usr/sbin (Debian installs there,
# but PATH may be trimmed in CI shells). The path found is left in
# $ensured_bin. Messages go to stderr, prefixed with the calling script's name.
# On failure it exits the calling script with 1 (a failing apt-get exits it
# with apt-get's own code, under the caller's `set -e`).

# Print the path of the first binary found; 1 when none is.
find_debian_binary() {
  local env_var=$1 name dir
  shift
  local override=${!env_var:-}
  if [[ -n $override && -x $override ]]; then echo "$override"; return 0; fi
  for name in "$@"; do
    command -v "$name" 2>/dev/null && return 0
  done
  for name in "$@"; do
    for dir in /usr/bin /usr/sbin; do
      [[ -x $dir/$name ]] && { echo "$dir/$name"; return 0; }
    done
  done
  return 1
}

ensure_debian_package() {
  local display=$1 env_var=$2 packages=$3
  shift 3
  local tag binary=$1 package
  tag=$(basename "$0" .sh)
  read -r -a packages <<<"$packages"
  package=${packages[0]}
  if ensured_bin=$(find_debian_binary "$env_var" "$@"); then return 0; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$tag: $binary is not installed and apt-get is unavailable; install $display or set $env_var" >&2
    exit 1
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "$tag: $binary is not installed and installing it needs root (or passwordless sudo)" >&2
      exit 1
    fi
  fi
  echo "$tag: installing Debian's $package package" >&2
  # noninteractive: no debconf prompts in CI.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2
  if ! ensured_bin=$(find_debian_binary "$env_var" "$@"); then
    echo "$tag: the $package package installed but no $binary binary was found" >&2
    exit 1
  fi
}
