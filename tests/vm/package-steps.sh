#!/bin/bash
# The Debian package's life cycle, run as root INSIDE a throwaway chroot
# (tests/vm/package-root.sh makes it: an overlay of a Debian root on the
# host, so the image rebuilds run at host speed). No md here: what needs md
# and a boot is tests/vm/boot.sh's part.
#   install the .deb: diversion, /sbin/mdmon ours, postinst rebuilt the
#     initramfs with ours                                    -> initrd-pkg0.img
#   dpkg -i Debian's mdadm (an upgrade/reinstall): /sbin/mdmon still ours,
#     mdadm's trigger rebuilt the image, again with ours     -> initrd-pkg.img
#   purge: diversions gone, /sbin/mdmon is mdadm's, the rebuilt image carries
#     mdadm's mdmon                                          -> initrd-purged.img
# usage (in the chroot): package-steps.sh DIR KVER; DIR holds mdmon-rs_*.deb
# and mdadm_*.deb; the images are written there. Prints "ok NAME" or
# "FAIL NAME" per check and the seconds each step took.
set -uo pipefail
D=$1 KVER=$2
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
DEB=$(ls "$D"/mdmon-rs_*_amd64.deb | head -n1)
MDADM_DEB=$(ls "$D"/mdadm_*.deb | head -n1)
OURS=/usr/lib/mdmon-rs/mdmon
IMG=/boot/initrd.img-$KVER
FAILS=0
check() { # NAME COMMAND...
	local n=$1; shift
	if "$@"; then echo "ok   $n"; else echo "FAIL $n"; FAILS=$((FAILS + 1)); fi
}
now() { date +%s.%N; }
took() { echo "  time: $1 $(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"; }
# The mdmon in initramfs image $1, copied to $2.
initrd_mdmon() {
	local x=$D/unpacked m
	rm -rf "$x"
	unmkinitramfs "$1" "$x" || return 1
	m=$(find "$x" -path '*sbin/mdmon' -type f | head -n1)
	[ -n "$m" ] && cp "$m" "$2"
	local rc=$?
	rm -rf "$x"
	return $rc
}
mtime() { stat -c %Y "$IMG" 2>/dev/null || echo 0; }
is_ours() { "$1" --version 2>/dev/null | grep -q '^mdmon-rs '; }

# mdadm's own mdmon, from its .deb (the reference for "mdadm's").
rm -rf "$D/mdadm-x"
dpkg-deb -x "$MDADM_DEB" "$D/mdadm-x"
C_ORIG=$D/mdadm-x/sbin/mdmon
[ -f "$C_ORIG" ] || C_ORIG=$D/mdadm-x/usr/sbin/mdmon

# No daemons started from maintainer scripts in the chroot.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
# Small images (the boot test's disks and root need only these); the
# hooks and triggers under test are the same as with MODULES=most.
printf 'MODULES=list\n' > /etc/initramfs-tools/conf.d/zz-mdmon-rs-test
printf '%s\n' virtio_pci virtio_blk ext4 md_mod raid1 >> /etc/initramfs-tools/modules
check before-sbin-mdmon-is-mdadms cmp -s /sbin/mdmon "$C_ORIG"
# Only this kernel (in the chroot's overlay): update-initramfs -u updates
# the newest one.
for k in /boot/initrd.img-* /boot/vmlinuz-*; do
	case $k in *-"$KVER") ;; *) rm -f "$k" ;; esac
done
t=$(now)
update-initramfs -c -k "$KVER" > "$D/initramfs-create.log" 2>&1 || update-initramfs -u -k "$KVER" >> "$D/initramfs-create.log" 2>&1
check before-image-built [ -s "$IMG" ]
took "update-initramfs (before)" "$t"

# Install.
t0=$(mtime); sleep 1; t=$(now)
dpkg -i "$DEB" > "$D/dpkg-install.log" 2>&1
check install-dpkg-i [ $? = 0 ]
took "dpkg -i mdmon-rs (with the postinst's image rebuild)" "$t"
check install-diversion [ "$(dpkg-divert --list /sbin/mdmon)" = "diversion of /sbin/mdmon to /sbin/mdmon.mdadm by mdmon-rs" ]
check install-man-diversion [ "$(dpkg-divert --truename /usr/share/man/man8/mdmon.8.gz)" = /usr/share/man/man8/mdmon.mdadm.8.gz ]
check install-sbin-mdmon-ours is_ours /sbin/mdmon
check install-usr-sbin-mdmon-ours is_ours /usr/sbin/mdmon
check install-mdadm-mdmon-kept cmp -s /sbin/mdmon.mdadm "$C_ORIG"
check install-man-page-ours sh -c 'zcat /usr/share/man/man8/mdmon.8.gz | grep -q mdmon-rs'
check install-postinst-rebuilt-image [ "$(mtime)" -gt "$t0" ]
rm -f "$D/m"; initrd_mdmon "$IMG" "$D/m"
check install-image-carries-mdmon-rs cmp -s "$D/m" "$OURS"
cp "$IMG" "$D/initrd-pkg0.img"

# mdadm reinstalled (what an upgrade does): ours stays, its trigger
# rebuilds the image, again with ours.
t0=$(mtime); sleep 1; t=$(now)
dpkg -i "$MDADM_DEB" > "$D/dpkg-mdadm.log" 2>&1
check mdadm-dpkg-i [ $? = 0 ]
took "dpkg -i mdadm (with its trigger's image rebuild)" "$t"
check mdadm-sbin-mdmon-still-ours is_ours /sbin/mdmon
check mdadm-its-mdmon-to-mdmon.mdadm cmp -s /sbin/mdmon.mdadm "$C_ORIG"
check mdadm-trigger-rebuilt-image [ "$(mtime)" -gt "$t0" ]
rm -f "$D/m"; initrd_mdmon "$IMG" "$D/m"
check mdadm-image-carries-mdmon-rs cmp -s "$D/m" "$OURS"
cp "$IMG" "$D/initrd-pkg.img"

# Purge: mdadm's mdmon comes back.
t0=$(mtime); sleep 1; t=$(now)
dpkg --purge mdmon-rs > "$D/dpkg-purge.log" 2>&1
check purge-dpkg [ $? = 0 ]
took "dpkg --purge mdmon-rs (with the image rebuild)" "$t"
check purge-no-diversions [ -z "$(dpkg-divert --list '*mdmon*')" ]
check purge-sbin-mdmon-is-mdadms cmp -s /sbin/mdmon "$C_ORIG"
check purge-no-mdmon.mdadm-left [ ! -e /sbin/mdmon.mdadm ]
check purge-no-mdmon-rs-left [ ! -e "$OURS" ]
check purge-man-page-mdadms sh -c '! zcat /usr/share/man/man8/mdmon.8.gz | grep -q mdmon-rs'
check purge-no-drop-in [ ! -e /lib/systemd/system/mdmon@.service.d/mdmon-rs.conf ]
check purge-mdadm-installed sh -c "dpkg -s mdadm | grep -q '^Status: install ok installed'"
check purge-rebuilt-image [ "$(mtime)" -gt "$t0" ]
rm -f "$D/m"; initrd_mdmon "$IMG" "$D/m"
check purge-image-carries-mdadms-mdmon cmp -s "$D/m" "$C_ORIG"
cp "$IMG" "$D/initrd-purged.img"
rm -rf "$D/mdadm-x" "$D/m"
echo "package steps: $FAILS failed"
[ "$FAILS" = 0 ]
