# Shared by scripts/up and scripts/test: idempotent install steps for a fresh Debian machine.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${MOBILYTICS_VENV:-$ROOT/.venv}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; return 1
  fi
}

# apt_install PKG...: install the Debian packages that are missing, nothing else.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# python_env EXTRAS: a venv at $VENV with the project installed (editable) with those extras.
# Reinstalls only when pyproject.toml or the extras changed.
python_env() {
  local extras="$1" stamp
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  stamp="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-$extras"
  if [ "$(cat "$VENV/.mobilytics-installed" 2>/dev/null)" != "$stamp" ]; then
    echo "==> pip install -e .[$extras]"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    echo "$stamp" > "$VENV/.mobilytics-installed"
  fi
}

# postgres_ready: a PostgreSQL server on 127.0.0.1:5432 the tests can use; installed and started
# on Debian when none answers. Sets MOBILYTICS_TEST_PG when it had to set a password.
postgres_ready() {
  local url="${MOBILYTICS_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
  if "$VENV/bin/python" -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$url" \
      >/dev/null 2>&1; then
    return 0
  fi
  apt_install postgresql
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  export MOBILYTICS_TEST_PG="postgresql://postgres:postgres@127.0.0.1:5432/postgres"
}
