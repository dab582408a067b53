#!/bin/bash
# The Debian package through a distribution's life cycle, in the guest (its
# root is a throwaway overlay of the host's): install the .deb, check the
# diversion, that /sbin/mdmon is mdmon-rs and that mdadm starts it for an
# IMSM container; reinstall Debian's mdadm (from tests/vm/cache/debs, which
# `apt-get download mdadm` fills on the host): /sbin/mdmon is still ours and
# the initramfs mdadm's trigger rebuilt carries ours; purge: mdadm's mdmon is
# back at /sbin/mdmon, in the initramfs, and mdadm starts it and it works.
# usage (host): packaging/build-deb.sh && (cd tests/vm/cache/debs && apt-get download mdadm)
#   /work/vmslot tests/vm/vm.sh -t 1500 OUT tests/vm/scenarios/package.sh
for a in "$@"; do export "${a?}"; done
IMPLS=pkg IMPL=pkg
. "$VM_REPO/tests/vm/scenarios/common.sh"
DEB=$(ls "$VM_REPO"/target/debian/mdmon-rs_*_amd64.deb 2>/dev/null | head -n1)
MDADM_DEB=$(ls "$VM_REPO"/tests/vm/cache/debs/mdadm_*.deb 2>/dev/null | head -n1)
OURS=/usr/lib/mdmon-rs/mdmon
export DEBIAN_FRONTEND=noninteractive
# The C mdmon as mdadm's package ships it (common.sh kept a copy before we
# changed anything).
C_ORIG=$C_BIN

# The initramfs update-initramfs -u writes (the newest kernel's).
newest_initrd() { ls -t /boot/initrd.img-* | head -n1; }
# The mdmon in initramfs image $1, extracted to $2.
initrd_mdmon() {
	local x=/tmp/unpacked
	rm -rf "$x"
	unmkinitramfs "$1" "$x" || return 1
	local m
	m=$(find "$x" -path '*sbin/mdmon' -type f | head -n1)
	[ -n "$m" ] && cp "$m" "$2"
	local rc=$?
	rm -rf "$x"
	return $rc
}
# mdadm starts an mdmon for a new IMSM container; it must be $1 and work.
check_mdadm_starts() { # BINARY WHAT
	local disks vol ctr pid
	disks=$(mkdisks 2 64)
	vol=$(imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	wait_for "/run/mdadm/$ctr.pid" '[0-9]*' 10 || fail "$2: no pid file for $ctr"
	pid=$(mdmon_pid "$ctr")
	cmp -s "/proc/$pid/exe" "$1" || fail "$2: the mdmon mdadm started is not $1 ($(readlink "/proc/$pid/exe"))"
	log "ok: $2: mdadm started $1 (pid $pid)"
	dd if=/dev/urandom of="/dev/$vol" bs=64k count=16 oflag=direct status=none || fail "$2: write"
	wait_for "/sys/block/$vol/md/array_state" clean 20 || fail "$2: not clean after the write"
	check_eq "$(dirty_state "$(echo "$disks" | head -n1)")" clean "$2: metadata clean after the write"
	cleanup_md
}

sc_package() {
	# Smaller images, much quicker to build under TCG than MODULES=most:
	# the modules the hooks ask for (md, raid) plus what boot.sh's disks and
	# root need. The hooks and triggers under test are the same.
	printf 'MODULES=list\n' > /etc/initramfs-tools/conf.d/zz-mdmon-rs-test
	printf '%s\n' virtio_pci virtio_blk ext4 md_mod raid1 >> /etc/initramfs-tools/modules
	[ -n "$DEB" ] || fail "no target/debian/mdmon-rs_*.deb (packaging/build-deb.sh)"
	[ -n "$MDADM_DEB" ] || fail "no tests/vm/cache/debs/mdadm_*.deb (apt-get download mdadm there)"
	cmp -s /sbin/mdmon "$C_ORIG" || fail "before: /sbin/mdmon is not mdadm's"
	local img t0 t1
	img=$(newest_initrd)

	# Install.
	t0=$(stat -c %Y "$img")
	run dpkg -i "$DEB"
	check_eq "$(dpkg-divert --list /sbin/mdmon)" "diversion of /sbin/mdmon to /sbin/mdmon.mdadm by mdmon-rs" "diversion"
	check_eq "$(dpkg-divert --truename /usr/share/man/man8/mdmon.8.gz)" /usr/share/man/man8/mdmon.mdadm.8.gz "man page diversion"
	/sbin/mdmon --version | grep -q '^mdmon-rs ' || fail "/sbin/mdmon --version: $(/sbin/mdmon --version 2>&1)"
	/usr/sbin/mdmon --version | grep -q '^mdmon-rs ' || fail "/usr/sbin/mdmon is not ours"
	cmp -s /sbin/mdmon.mdadm "$C_ORIG" || fail "mdadm's mdmon not kept as /sbin/mdmon.mdadm"
	zcat /usr/share/man/man8/mdmon.8.gz | grep -q mdmon-rs || fail "man page is not ours"
	[ "$(stat -c %Y "$img")" -gt "$t0" ] || fail "postinst did not rebuild $img"
	initrd_mdmon "$img" /tmp/m1 || fail "no mdmon in $img"
	cmp -s /tmp/m1 "$OURS" || fail "the rebuilt initramfs does not carry mdmon-rs"
	log "ok: installed; $img rebuilt with mdmon-rs"
	check_mdadm_starts "$OURS" "installed"

	# mdadm reinstalled (what an upgrade does): ours stays, its trigger
	# rebuilds the image, again with ours.
	t0=$(stat -c %Y "$img")
	sleep 1
	run dpkg -i "$MDADM_DEB"
	/sbin/mdmon --version | grep -q '^mdmon-rs ' || fail "mdadm's reinstall replaced /sbin/mdmon"
	cmp -s /sbin/mdmon.mdadm "$C_ORIG" || fail "mdadm's reinstall did not go to /sbin/mdmon.mdadm"
	t1=$(stat -c %Y "$img")
	[ "$t1" -gt "$t0" ] || fail "mdadm's reinstall did not rebuild $img"
	initrd_mdmon "$img" /tmp/m2 || fail "no mdmon in $img after mdadm's reinstall"
	cmp -s /tmp/m2 "$OURS" || fail "after mdadm's reinstall the initramfs does not carry mdmon-rs"
	log "ok: mdadm reinstalled: /sbin/mdmon and the initramfs still mdmon-rs"
	# For tests/vm/boot.sh (BOOT_PKG_OUT): this image and its kernel.
	[ -d /out ] && cp "$img" /out/initrd-pkg.img && cp "/boot/vmlinuz-${img#/boot/initrd.img-}" /out/kernel
	check_mdadm_starts "$OURS" "after mdadm's reinstall"

	# Purge: mdadm's mdmon comes back, working.
	t0=$(stat -c %Y "$img")
	sleep 1
	run dpkg --purge mdmon-rs
	check_eq "$(dpkg-divert --list '*mdmon*')" "" "diversions after purge"
	cmp -s /sbin/mdmon "$C_ORIG" || fail "after purge /sbin/mdmon is not mdadm's"
	[ ! -e /sbin/mdmon.mdadm ] || fail "/sbin/mdmon.mdadm left behind"
	[ ! -e "$OURS" ] || fail "$OURS left behind"
	zcat /usr/share/man/man8/mdmon.8.gz | grep -q mdmon-rs && fail "man page still ours"
	[ -e /lib/systemd/system/mdmon@.service.d/mdmon-rs.conf ] && fail "drop-in left behind"
	[ "$(stat -c %Y "$img")" -gt "$t0" ] || fail "purge did not rebuild $img"
	initrd_mdmon "$img" /tmp/m3 || fail "no mdmon in $img after purge"
	cmp -s /tmp/m3 "$C_ORIG" || fail "after purge the initramfs does not carry mdadm's mdmon"
	dpkg -s mdadm | grep -q '^Status: install ok installed' || fail "mdadm not installed"
	log "ok: purged: mdadm's mdmon back at /sbin/mdmon and in the initramfs"
	[ -d /out ] && cp "$img" /out/initrd-purged.img
	check_mdadm_starts "$C_ORIG" "after purge"
}

run_scenario package sc_package
finish package
