#!/bin/bash
# The Debian package's life cycle, outside CI (each initramfs rebuild in the
# guest takes many minutes under TCG; the whole takes one to two hours):
# build the .deb, install it in the VM, reinstall Debian's mdadm from the
# apt cache, purge; then full boots from the images those steps leave
# (tests/vm/boot.sh with BOOT_PKG_OUT). Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-tests/vm/out}
mkdir -p "$OUT"
bash tests/vm/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl --bins --examples || { echo "0 passed, 1 failed"; exit 1; }
pass=0 failn=0
mkdir -p tests/vm/cache/debs
ls tests/vm/cache/debs/mdadm_*.deb > /dev/null 2>&1 || (cd tests/vm/cache/debs && apt-get download mdadm)
if ! packaging/build-deb.sh > "$OUT/build-deb.log" 2>&1; then
	tail -n 20 "$OUT/build-deb.log"; echo "0 passed, 1 failed"; exit 1
fi
VM_QUIET=1 tests/vm/vm.sh -t "${VM_PKG_TIMEOUT:-4500}" "$OUT/package" tests/vm/scenarios/package.sh
grep -E '^(ok|FAIL) |: FAIL: ' "$OUT/package/console.log"
pass=$((pass + $(grep -cE '^ok ' "$OUT/package/console.log")))
failn=$((failn + $(grep -cE '^FAIL ' "$OUT/package/console.log")))
BOOT_PKG_OUT=$(cd "$OUT" && pwd)/package bash tests/vm/boot.sh "$OUT/boot-pkg" > "$OUT/boot-pkg.log" 2>&1
rc=$?
grep -E '^(ok|FAIL) ' "$OUT/boot-pkg.log"
pass=$((pass + $(grep -cE '^ok ' "$OUT/boot-pkg.log")))
f=$(grep -cE '^FAIL ' "$OUT/boot-pkg.log")
failn=$((failn + f))
[ $rc != 0 ] && [ "$f" = 0 ] && failn=$((failn + 1))
echo "${pass} passed, ${failn} failed"
[ "$failn" = 0 ]
