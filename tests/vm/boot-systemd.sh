#!/bin/bash
# Full boots of a real Debian root (systemd as PID 1, udev) on an IMSM RAID1
# volume, with mdmon-rs installed from its .deb and Debian's mdadm package
# reinstalled after it, and the initramfs mdadm's trigger rebuilt
# (initramfs-tools), through systemd's own shutdown:
#   takeover: udev starts mdmon@CONTAINER.service, mdmon-rs takes over from
#             the initramfs instance; write; systemctl poweroff; after the
#             kill spree and the read-only remount the unit's mdmon still
#             runs and the metadata ends clean (a system-shutdown hook)
#   keep:     mdmon@.service masked: the initramfs instance, marked '@',
#             must survive systemd's shutdown kill spree and mark the
#             array clean (the same hook); write; poweroff
#   check:    a last boot
# Each boot after the first checks that the previous shutdown left the
# metadata clean (no resync) and the data intact.
# The root is made at host speed from a minimal Debian root
# (tests/vm/debroot.sh; DEBROOT names another) in a
# throwaway overlay chroot; the host writes the ext4 image onto both members
# (IMSM RAID1 data starts at LBA 0 of each) after a VM made the container.
# usage: tests/vm/boot-systemd.sh [OUTDIR] (needs target/debian/mdmon-rs_*.deb)
#   BOOT_STAGE=root: only make the root and initramfs (no VM; e.g. before
#   waiting for a VM slot); BOOT_STAGE=vm: only the VM part, with the root
#   and initramfs a previous run left in OUTDIR.
# Prints one "ok"/"FAIL" line per check group and "boot-systemd: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=$(mkdir -p "${1:-tests/vm/out/boot-systemd}" && cd "${1:-tests/vm/out/boot-systemd}" && pwd)
KERNEL=${VM_KERNEL:-$(bash tests/vm/kernel.sh "${VM_KSERIES:-6.1}")}
KVER=${KERNEL##*/vmlinuz-}
UUID=3b9f7c21-8e4d-4a6b-b0c5-1d2e3f4a5b6c
DEBROOT=${DEBROOT:-/work/tmp-pkg/debroot}
DEB=$(ls "$REPO"/target/debian/mdmon-rs_*_amd64.deb 2>/dev/null | head -n1)
PASSED=0 FAILED=0
result() { # NAME OK?
	if [ "$2" = 0 ]; then PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; else FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; fi
}
die() { echo "boot-systemd.sh: $*" >&2; result "boot-systemd-setup" 1; echo "boot-systemd: $PASSED passed, $FAILED failed"; exit 1; }
now() { date +%s; }
[ -n "$DEB" ] || die "no target/debian/mdmon-rs_*.deb (packaging/build-deb.sh)"

STAGE=${BOOT_STAGE:-all}
if [ "$STAGE" != vm ]; then
# 1. The minimal Debian root, once.
t=$(now)
DEBROOT=$(bash tests/vm/debroot.sh "$DEBROOT") || die "no Debian root"
echo "  time: debian root $(($(now) - t)) s"

# 2. The test root: the package installed in an overlay chroot, then
# Debian's mdadm reinstalled, made into an ext4 image; the initramfs
# mdadm's trigger rebuilt (with mdmon-rs).
t=$(now)
NS=/work/tmp-pkg/ns.$$
mkdir -p "$NS"
rm -f "$OUT/root.img" "$OUT/initrd.img"
mkdir -p tests/vm/cache/debs
ls tests/vm/cache/debs/mdadm_*.deb > /dev/null 2>&1 || (cd tests/vm/cache/debs && apt-get download mdadm > /dev/null 2>&1)
MDADM_DEB=$(ls "$REPO"/tests/vm/cache/debs/mdadm_*.deb 2>/dev/null | head -n1)
[ -n "$MDADM_DEB" ] || die "no tests/vm/cache/debs/mdadm_*.deb"
export NS OUT KVER DEBROOT UUID DEB MDADM_DEB REPO
unshare -m bash -euo pipefail -c '
	. "$REPO/tests/vm/overlay-root.sh"
	overlay_root "$NS" "$DEBROOT" 4g "$KVER"
	mkdir "$M/tmp/pkg"
	cp "$DEB" "$MDADM_DEB" "$REPO"/tests/vm/boot/systemd/* "$REPO/tests/vm/boot/imsm-test.rules" "$M/tmp/pkg/"
	chroot "$M" bash /tmp/pkg/setup-root.sh /tmp/pkg "$KVER" "$UUID" > "$OUT/setup-root.log" 2>&1
	cp "$M/boot/initrd.img-$KVER" "$OUT/initrd.img"
	umount -R "$M/proc" "$M/sys" "$M/dev" "$M/run" "$M/tmp" "$M/lib/modules/$KVER"
	# The kernel stays outside the root image (qemu -kernel); its modules
	# are in the initramfs.
	rm -f "$M/boot/vmlinuz-$KVER" "$M/boot/System.map-$KVER"
	mkfs.ext4 -q -F -L root -U "$UUID" -d "$M" "$OUT/root.img" 400M
' || { rmdir "$NS" 2>/dev/null; tail -n 30 "$OUT/setup-root.log"; die "making the root"; }
rmdir "$NS" 2>/dev/null
echo "  time: test root (dpkg -i with the image rebuild, mkfs.ext4) $(($(now) - t)) s; root image $(du -h "$OUT/root.img" | cut -f1) used"
grep -a '^mdmon-rs ' "$OUT/setup-root.log" | sed 's/^/  root: /'
rm -rf "$OUT/unpacked"
unmkinitramfs "$OUT/initrd.img" "$OUT/unpacked" || die "unmkinitramfs"
m=$(find "$OUT/unpacked" -path '*sbin/mdmon' -type f | head -n1)
cmp -s "$m" "$REPO/target/x86_64-unknown-linux-musl/release/mdmon"; result "systemd-root-initramfs-carries-mdmon-rs" $?
rm -rf "$OUT/unpacked"
fi
[ "$STAGE" = root ] && { echo "boot-systemd: $PASSED passed, $FAILED failed"; exit 0; }
[ -s "$OUT/root.img" ] && [ -s "$OUT/initrd.img" ] || die "no root.img/initrd.img in $OUT"

# 3. The disks: a VM makes the IMSM container and the RAID1 volume; the
# host copies the root image onto both members.
t=$(now)
rm -f "$OUT/d0.img" "$OUT/d1.img"
truncate -s 600M "$OUT/d0.img" "$OUT/d1.img"
DRIVES="-drive file=$OUT/d0.img,if=virtio,format=raw,cache=unsafe -drive file=$OUT/d1.img,if=virtio,format=raw,cache=unsafe"
VM_QUIET=1 VM_QEMU_ARGS=$DRIVES tests/vm/vm.sh -t 300 "$OUT/prepare" tests/vm/boot/prepare.sh none 420M \
	|| { tail -n 30 "$OUT/prepare/console.log"; die "preparing the disks failed"; }
for d in d0 d1; do dd if="$OUT/root.img" of="$OUT/$d.img" bs=1M conv=notrunc,sparse status=none || die "dd $d"; done
echo "  time: disks $(($(now) - t)) s"

# 4. The boots.
BIOS=()
for d in /usr/share/qemu /usr/share/seabios; do [ -r "$d/qboot.rom" ] && { BIOS=(-bios "$d/qboot.rom"); break; }; done
n=0
boot() { # PHASE EXTRA_APPEND
	n=$((n + 1))
	local log=$OUT/boot$n-$1.log t
	t=$(now)
	# shellcheck disable=SC2086
	timeout -k 10 "${BOOT_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 "${BIOS[@]}" \
		-display none -monitor none -serial stdio -no-reboot -nodefaults -vga none \
		-kernel "$KERNEL" -initrd "$OUT/initrd.img" $DRIVES \
		-append "console=ttyS0 root=UUID=$UUID ro panic=-1 IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1 bootphase=$1 $2" \
		</dev/null > "$log" 2>&1
	grep -a 'BOOT: ' "$log" | tr -d '\r' | sed 's/^/  /'
	local rc=0
	grep -aq "BOOT: phase $1 done, 0 failed" "$log" || rc=1
	grep -aq 'BOOT: FAIL' "$log" && rc=1
	# After systemd-shutdown's kill spree and read-only remount: an mdmon
	# still runs and the metadata is clean (tests/vm/boot/systemd/shutdown-check).
	grep -aq 'BOOT: shutdown ok mdmon alive' "$log" && grep -aq 'BOOT: shutdown ok metadata clean' "$log" || rc=1
	grep -aq 'BOOT: shutdown FAIL' "$log" && rc=1
	# systemd's shutdown went through to the power-off.
	grep -aq 'reboot: Power down' "$log" || { echo "  no power-off in $log"; rc=1; }
	echo "  time: boot $n ($1) $(($(now) - t)) s"
	[ $rc = 0 ] || tail -n 40 "$log" | tr -d '\r' | sed 's/^/  | /'
	return $rc
}
boot takeover ""; result "systemd-udev-mdmon@-takeover-write-poweroff" $?
boot keep "systemd.mask=mdmon@.service"; result "systemd-no-resync-then-initramfs-mdmon-through-shutdown" $?
boot check ""; result "systemd-no-resync-after-shutdown-without-takeover" $?
echo "boot-systemd: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
