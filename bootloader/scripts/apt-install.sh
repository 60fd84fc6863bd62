# Sourced by scripts/fetch-sources.sh and targets/cortex-m4/deps.sh: apt_install WHO PACKAGE... installs
# the Debian packages when run as root on a machine with apt-get, else names them and exits 1.
apt_install() {
  local who="$1"
  shift
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: missing $*; install them (Debian: apt-get install $*)" >&2
    exit 1
  fi
  echo "$who: installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$@" >/dev/null
}
