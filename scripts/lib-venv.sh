# Sourced by scripts/test and scripts/demo: the project-local Python tools (.venv), installed from the
# pinned scripts/requirements-dev.txt when missing or out of date.
VENV="${VENV:-$root/.venv}"
ensure_venv() {
  local stamp="$VENV/.requirements-dev.txt"
  if [ -x "$VENV/bin/moto_server" ] && cmp -s scripts/requirements-dev.txt "$stamp"; then
    return 0
  fi
  echo "==> installing pinned Python tools into $VENV (first run only)"
  python3 -m venv "$VENV" || { echo "ERROR: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-dev.txt
  cp scripts/requirements-dev.txt "$stamp"
}
