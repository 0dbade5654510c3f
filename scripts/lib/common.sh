# Shared by the scripts: install Debian packages that are missing, with sudo only when not root.
set -euo pipefail

vpci_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

vpci_ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  echo "vpci: installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

vpci_base_packages=(cmake ninja-build g++ libboost1.81-dev libboost-test1.81-dev)
