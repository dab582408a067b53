#!/bin/bash
# Full-boot test: root on an IMSM RAID1 volume, booted through an initramfs
# built by the real generator (Debian's mkinitramfs) with our hook, mdmon
# starting in the initramfs and the root filesystem's instance taking over.
#   phase 1: boot, take over, write, clean shutdown
#   phase 2: boot (checks: no resync, data), start a rebuild, power off at ~1/3
#   phase 3: boot: the initramfs mdmon resumes the rebuild from the
#            checkpoint before the root is mounted; it completes after the
#            takeover; the rebuilt disk alone holds the data
# With BOOT_PKG_OUT=<package-root.sh's OUT>, also boots the images the
# Debian package's steps built (tests/vm/package-root.sh: package
# installed + mdadm reinstalled; package purged); BOOT_PKG_ONLY=1 then
# boots only those two (and skips building the default images).
# usage: tests/vm/boot.sh [OUTDIR]. Prints one "ok"/"FAIL" line per check
# group and "boot: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=$(mkdir -p "${1:-tests/vm/out/boot}" && cd "${1:-tests/vm/out/boot}" && pwd)
RS=$REPO/target/x86_64-unknown-linux-musl/release/mdmon
KERNEL=${VM_KERNEL:-$(bash "$(dirname "${BASH_SOURCE[0]}")/kernel.sh" "${VM_KSERIES:-6.1}")}
KVER=${KERNEL##*/vmlinuz-}
UUID=6d3c0e2a-5b1f-4d7e-9a41-0c2b8e7f1a93
PASSED=0 FAILED=0
result() { # NAME OK?
	if [ "$2" = 0 ]; then PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; else FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; fi
}
die() { echo "boot.sh: $*" >&2; result "boot-setup" 1; echo "boot: $PASSED passed, $FAILED failed"; exit 1; }
[ -x "$RS" ] || die "missing $RS"

# 1. The root filesystem: busybox, mdadm (+ libraries), mdmon-rs, our init.
R=$OUT/rootfs
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,lib/x86_64-linux-gnu,lib64}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
cp -L /sbin/mdadm "$R/sbin/mdadm"
ldd /sbin/mdadm | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
	mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
done
cp "$RS" "$R/sbin/mdmon"
# Both mdmons, for the init to start the one the boot asks for and to tell
# which one the initramfs ran.
cp "$RS" "$R/sbin/mdmon.rs"
CMDMON=/usr/sbin/mdmon
[ -e /usr/sbin/mdmon.mdadm ] && CMDMON=/usr/sbin/mdmon.mdadm
"$CMDMON" --version 2>&1 | grep -q mdmon-rs && die "$CMDMON is not mdadm's mdmon"
cp -L "$CMDMON" "$R/sbin/mdmon.c"
ldd "$CMDMON" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
	mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
done
install -m755 tests/vm/boot/rootfs-init "$R/sbin/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
touch "$R/etc/mdadm.conf"
rm -f "$OUT/root.img"
mkfs.ext4 -q -F -L root -U "$UUID" -d "$R" "$OUT/root.img" 64M || die "mkfs.ext4"

# 2. The initramfs, by mkinitramfs with our hook (and a test-only speed cap).
PKG_ONLY=${BOOT_PKG_ONLY:-}
[ -n "$PKG_ONLY" ] && [ -z "${BOOT_PKG_OUT:-}" ] && die "BOOT_PKG_ONLY without BOOT_PKG_OUT"
if [ -z "$PKG_ONLY" ]; then
CONF=$OUT/initramfs-conf
rm -rf "$CONF"
cp -a /etc/initramfs-tools "$CONF"
install -m755 initramfs/initramfs-tools/hooks/mdmon-rs "$CONF/hooks/mdmon-rs"
mkdir -p "$CONF/scripts/init-top"
install -m755 tests/vm/boot/md-speed "$CONF/scripts/init-top/md-speed"
MDMON_RS=$RS mkinitramfs -d "$CONF" -o "$OUT/initrd.img" "$KVER" || die "mkinitramfs"
rm -rf "$OUT/unpacked"
unmkinitramfs "$OUT/initrd.img" "$OUT/unpacked" || die "unmkinitramfs"
m=$(find "$OUT/unpacked" -path '*sbin/mdmon' -type f | head -n1)
cmp -s "$m" "$RS"; result "initramfs-carries-mdmon-rs" $?

# 2b. A dracut image (Fedora-like systems) with our module on top of mdraid,
# from a copy of dracut's module tree (the host's is left alone). The
# module list names mdraid but not ours: our dracut.conf.d file adds it, as
# on an installed system where kernel updates rebuild the image.
DRACUT_IMG=
if command -v dracut >/dev/null 2>&1; then
	D=$OUT/dracut
	rm -rf "$D"; mkdir -p "$D/conf.d"
	cp initramfs/dracut/mdmon-rs.conf "$D/conf.d/70-mdmon-rs.conf"
	cp -a /usr/lib/dracut "$D/base"
	cp -rL initramfs/dracut/70mdmon-rs "$D/base/modules.d/"
	if MDMON_RS=$RS dracutbasedir=$D/base dracut --force --no-hostonly --no-hostonly-cmdline --no-early-microcode \
		--conf /dev/null --confdir "$D/conf.d" -o systemd \
		-m "base rootfs-block udev-rules kernel-modules mdraid shutdown" \
		--add-drivers "virtio_blk virtio_pci raid1 md_mod ext4" \
		--include "$REPO/tests/vm/boot/imsm-test.rules" /etc/udev/rules.d/00-imsm-test.rules \
		"$D/initrd.img" "$KVER" > "$D/dracut.log" 2>&1; then
		DRACUT_IMG=$D/initrd.img
		rm -rf "$D/x"; mkdir -p "$D/x"
		(cd "$D/x" && zcat ../initrd.img | cpio -idm --quiet 2>/dev/null)
		cmp -s "$D/x/usr/sbin/mdmon" "$RS"; result "dracut-image-carries-mdmon-rs" $?
	else
		tail -n 20 "$D/dracut.log"; result "dracut-image" 1
	fi
fi
fi

# 3. The disks, prepared in a VM like an installer would.
rm -f "$OUT/d0.img" "$OUT/d1.img"
truncate -s 160M "$OUT/d0.img" "$OUT/d1.img"
DRIVES="-drive file=$OUT/d0.img,if=virtio,format=raw,cache=unsafe -drive file=$OUT/d1.img,if=virtio,format=raw,cache=unsafe"
VM_QUIET=1 VM_QEMU_ARGS=$DRIVES tests/vm/vm.sh -t 300 "$OUT/prepare" tests/vm/boot/prepare.sh "$OUT/root.img" \
	|| { tail -n 30 "$OUT/prepare/console.log"; die "preparing the disks failed"; }

# 4. The boots.
BIOS=()
for d in /usr/share/qemu /usr/share/seabios; do [ -r "$d/qboot.rom" ] && { BIOS=(-bios "$d/qboot.rom"); break; }; done
boot() { # PHASE EXTRA_APPEND [INITRD [LABEL [KERNEL]]]
	local log=$OUT/boot$1${3:+-${4:-dracut}}.log
	# shellcheck disable=SC2086
	timeout -k 10 400 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 "${BIOS[@]}" \
		-display none -monitor none -serial stdio -no-reboot -nodefaults -vga none \
		-kernel "${5:-$KERNEL}" -initrd "${3:-$OUT/initrd.img}" $DRIVES \
		-append "console=ttyS0 root=UUID=$UUID ro panic=-1 init=/sbin/init IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1 bootphase=$1 $2" \
		</dev/null > "$log" 2>&1
	grep -a 'BOOT: ' "$log" | sed 's/^/  /'
	grep -aq "BOOT: phase $1 done, 0 failed" "$log" || grep -aq "BOOT: phase $1 powering off" "$log"
	local rc=$?
	grep -aq 'BOOT: FAIL' "$log" && rc=1
	[ $rc = 0 ] || tail -n 40 "$log" | sed 's/^/  | /'
	return $rc
}
[ -z "$PKG_ONLY" ] && { boot 1 ""; result "boot-takeover-write-clean-shutdown" $?; }
if [ -n "${DRACUT_IMG:-}" ]; then
	boot 1 "rd.auto=1 rd.retry=10" "$DRACUT_IMG"; result "boot-dracut-takeover-write-clean-shutdown" $?
fi
# The Debian package's life cycle (tests/vm/package-root.sh, run with
# its OUT in BOOT_PKG_OUT, keeps there the images Debian's own
# update-initramfs built in the chroot, and their kernel): (a) package installed, mdadm reinstalled
# and the image rebuilt by its trigger: ours runs in the initramfs and
# after the takeover; (c) package purged, image rebuilt: mdadm's mdmon runs
# in the initramfs and on the root, which still boots and shuts down clean
# (boot 2 then checks: no resync).
if [ -n "${BOOT_PKG_OUT:-}" ]; then
	PK=$BOOT_PKG_OUT/kernel
	if [ -r "$BOOT_PKG_OUT/initrd-pkg.img" ] && [ -r "$BOOT_PKG_OUT/initrd-purged.img" ] && [ -r "$PK" ]; then
		boot 1 "initrd_mdmon=rs root_mdmon=rs" "$BOOT_PKG_OUT/initrd-pkg.img" pkg "$PK"
		result "boot-package-after-mdadm-reinstall" $?
		boot 1 "initrd_mdmon=c root_mdmon=c" "$BOOT_PKG_OUT/initrd-purged.img" purged "$PK"
		result "boot-package-purged-c-mdmon" $?
	else
		echo "  no package images in $BOOT_PKG_OUT (run tests/vm/package-root.sh first)"
		result "boot-package-images" 1
	fi
fi
if [ -n "$PKG_ONLY" ]; then echo "boot: $PASSED passed, $FAILED failed"; [ "$FAILED" = 0 ]; exit; fi
boot 2 ""; result "boot-no-resync-then-rebuild-poweroff" $?
boot 3 "md_speed=1000"; rc=$?
stopped=$(grep -a 'BOOT: stopped-at' "$OUT/boot2.log" | tr -d '\r' | awk '{print $3}')
resumed=$(grep -a 'BOOT: resumed-at' "$OUT/boot3.log" | tr -d '\r' | awk '{print $3}')
echo "  boot rebuild: powered off at sector ${stopped:-?}, resumed in the initramfs at ${resumed:-?}"
if [ -n "$stopped" ] && [ -n "$resumed" ] && [ "$resumed" -gt 0 ] && [ "$resumed" -le "$stopped" ]; then :; else rc=1; fi
result "boot-resume-in-initramfs-complete-after-takeover" $rc
echo "boot: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
