#!/bin/bash
# The Debian package's life cycle and the boots it must survive. The package
# steps run at host speed in throwaway chroots (overlays in a private mount
# namespace; nothing on the host's root changes); the VM only boots:
#   1. tests/vm/package-root.sh: in a chroot over a minimal Debian root
#      (tests/vm/debroot.sh; PKG_BASE=/ uses the host's own root instead):
#      dpkg -i the .deb, dpkg -i Debian's mdadm (its trigger rebuilds the
#      initramfs), dpkg --purge; diversions, /sbin/mdmon and the images'
#      mdmon checked at each step
#   2. tests/vm/boot.sh (BOOT_PKG_ONLY): (a) boot the image left after
#      mdadm's reinstall: ours in the initramfs and after the takeover,
#      writes, clean shutdown; (c) boot the image left after the purge:
#      mdadm's mdmon runs, clean shutdown
#   3. tests/vm/boot-systemd.sh: (b) the Debian root with the package, real
#      systemd as PID 1 and udev starting mdmon@.service, through systemd's
#      shutdown, with and without the takeover; no resync on the next boots
# usage: tests/package-test.sh (as root; OUT=tests/vm/out by default).
# Set VM_RUN=tests/vm/vmslot.sh (or another wrapper) to run the VM parts through
# it. Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "${OUT:-tests/vm/out}" && cd "${OUT:-tests/vm/out}" && pwd)
VM_RUN=${VM_RUN:-}
KERNEL=$(bash tests/vm/kernel.sh "${VM_KSERIES:-6.1}") || exit 1
KVER=${KERNEL##*/vmlinuz-}
pass=0 failn=0
now() { date +%s; }
took() { echo "time: $1 $(($(now) - $2)) s"; }
# count LOG RC: adds LOG's ok/FAIL lines; a non-zero RC without a FAIL line
# counts as one failure.
count() {
	grep -E '^(ok|FAIL) ' "$1"
	local p f
	p=$(grep -cE '^ok ' "$1"); f=$(grep -cE '^FAIL ' "$1")
	pass=$((pass + p)); failn=$((failn + f))
	if [ "$2" != 0 ] && [ "$f" = 0 ]; then failn=$((failn + 1)); tail -n 20 "$1"; fi
}
t=$(now)
bash tests/vm/setup.sh > "$OUT/setup.log" 2>&1 || { tail -n 20 "$OUT/setup.log"; echo "0 passed, 1 failed"; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl --bins || { echo "0 passed, 1 failed"; exit 1; }
if ! packaging/build-deb.sh > "$OUT/build-deb.log" 2>&1; then
	tail -n 20 "$OUT/build-deb.log"; echo "0 passed, 1 failed"; exit 1
fi
DEB=$(tail -n1 "$OUT/build-deb.log")
mkdir -p tests/vm/cache/debs
ls tests/vm/cache/debs/mdadm_*.deb > /dev/null 2>&1 || (cd tests/vm/cache/debs && apt-get download mdadm > /dev/null 2>&1)
MDADM_DEB=$(ls tests/vm/cache/debs/mdadm_*.deb | head -n1)
BASE=${PKG_BASE:-}
[ -n "$BASE" ] || BASE=$(bash tests/vm/debroot.sh) || { echo "0 passed, 1 failed"; exit 1; }
took "set-up, build, .deb, Debian root" "$t"

echo "=== package steps in a chroot over $BASE (kernel $KVER)"
t=$(now)
bash tests/vm/package-root.sh "$OUT/package" "$KVER" "$DEB" "$MDADM_DEB" "$BASE" > "$OUT/package.log" 2>&1
count "$OUT/package.log" $?
grep '^  time:' "$OUT/package.log"
took "package steps" "$t"

echo "=== boots from the package's images (a: installed + mdadm reinstalled; c: purged)"
t=$(now)
BOOT_PKG_ONLY=1 BOOT_PKG_OUT=$OUT/package $VM_RUN bash tests/vm/boot.sh "$OUT/boot-pkg" > "$OUT/boot-pkg.log" 2>&1
count "$OUT/boot-pkg.log" $?
took "boots (a), (c)" "$t"

echo "=== systemd root (b)"
t=$(now)
BOOT_STAGE=root bash tests/vm/boot-systemd.sh "$OUT/boot-systemd" > "$OUT/boot-systemd-root.log" 2>&1
count "$OUT/boot-systemd-root.log" $?
BOOT_STAGE=vm $VM_RUN bash tests/vm/boot-systemd.sh "$OUT/boot-systemd" > "$OUT/boot-systemd.log" 2>&1
count "$OUT/boot-systemd.log" $?
grep '^  time:' "$OUT/boot-systemd-root.log" "$OUT/boot-systemd.log" | sed 's/^[^:]*://'
took "systemd root and boots (b)" "$t"
echo "${pass} passed, ${failn} failed"
[ "$failn" = 0 ]
