#!/usr/bin/env bash
# Debian packages the tests need, installed by the project itself (CI starts on a bare
# machine). Idempotent: packages already present are not fetched again.
# One package per line; add yours to the list.
set -euo pipefail

PACKAGES=(
  chromium          # headless browser for the report test (tests/workflow/test_report_browser.py)
  fonts-dejavu-core # so that the report's screenshot has readable text on a bare machine
  slurm-wlm         # a real single-node SLURM cluster (ci/start-slurm.sh, tests/workflow/test_slurm.py)
  munge             # SLURM's authentication daemon
  qemu-user         # runs a job as an older, AVX2-only CPU (tests/workflow/test_portable_numerics.py)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present (${PACKAGES[*]})"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "system deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
