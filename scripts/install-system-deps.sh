#!/usr/bin/env bash
# Installs the system components the integration tests start (DESIGN §4), when they are missing and we can.
# Debian packages: postgresql, curl (the documented examples are run by a test), prometheus (promtool and the server
# for the SLO rules), chromium (headless, for the dashboard's browser tests). Runs `apt-get update` at most once.
set -euo pipefail

missing=()
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }
have_pg || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)  # the dashboard's browser tests (Playwright drives it)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system components: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system components missing: ${missing[*]} (not root, so not installing; tests that need them will" \
       "skip locally and fail under CI=true)" >&2
  exit 0
fi
echo "installing system components: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's prometheus package starts a service where an init system runs; the tests start their own servers.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
