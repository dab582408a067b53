#!/bin/bash
# Demo of the main job in the VM: an IMSM RAID1 kept writable by our mdmon.
# Installs what it needs (run as root on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/vm/setup.sh >/dev/null
cargo build --release --target x86_64-unknown-linux-musl --bins 2>&1 | tail -n1
rc=0
VM_QUIET=1 tests/vm/vm.sh -t 600 tests/vm/out/demo tests/vm/scenarios/demo.sh || rc=$?
sed -n '/^>>>/,$p' tests/vm/out/demo/console.log | grep -vE '^(=== guest-init|\[ *[0-9.]+\] (sysrq|reboot))'
exit "$rc"
