#!/bin/sh
# Install mdmon-rs by hand (systems without the .deb; see README). As root:
#   cargo build --release --target x86_64-unknown-linux-musl && ./install.sh
# Variables (environment): DESTDIR (staging root, default none), PREFIX
# (default /usr/local), BIN (the binary to install), UNITDIR (systemd drop-in
# base, default /etc/systemd/system), SBINDIR (where mdadm executes mdmon,
# default /usr/sbin), REPLACE_SBIN (1: put mdmon-rs at SBINDIR/mdmon, keeping
# a different binary there as mdmon.distro; 0: leave it, default 1 without
# DESTDIR, 0 with it), INITRAMFS_HOOKDIR, DRACUTDIR.
# `./install.sh uninstall` removes what it installed and puts mdmon.distro
# back.
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu
cd "$(dirname "$0")"
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BIN=${BIN:-target/x86_64-unknown-linux-musl/release/mdmon}
LIBEXEC=$PREFIX/lib/mdmon-rs
MANDIR=${MANDIR:-$PREFIX/share/man}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SBINDIR=${SBINDIR:-/usr/sbin}
INITRAMFS_HOOKDIR=${INITRAMFS_HOOKDIR:-/etc/initramfs-tools/hooks}
DRACUTDIR=${DRACUTDIR:-/usr/lib/dracut}
if [ -n "$DESTDIR" ]; then REPLACE_SBIN=${REPLACE_SBIN:-0}; else REPLACE_SBIN=${REPLACE_SBIN:-1}; fi
D=$DESTDIR
is_ours() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q '^mdmon-rs'; }

if [ "${1:-}" = uninstall ]; then
	rm -f "$D$LIBEXEC/mdmon" "$D$MANDIR/man8/mdmon.8" "$D$UNITDIR/mdmon@.service.d/mdmon-rs.conf" \
		"$D$INITRAMFS_HOOKDIR/mdmon-rs" "$D$DRACUTDIR/dracut.conf.d/70-mdmon-rs.conf"
	rm -rf "$D$DRACUTDIR/modules.d/70mdmon-rs"
	rmdir "$D$LIBEXEC" "$D$UNITDIR/mdmon@.service.d" 2>/dev/null || :
	if [ -e "$D$SBINDIR/mdmon.distro" ]; then
		mv -f "$D$SBINDIR/mdmon.distro" "$D$SBINDIR/mdmon"
		echo "restored $D$SBINDIR/mdmon"
	elif is_ours "$D$SBINDIR/mdmon"; then
		rm -f "$D$SBINDIR/mdmon"
		echo "removed $D$SBINDIR/mdmon (reinstall mdadm to get its mdmon back)"
	fi
	echo "uninstalled; now rebuild the initramfs and run systemctl daemon-reload"
	exit 0
fi

is_ours "$BIN" || { echo "install.sh: $BIN is not an mdmon-rs binary (build it first)" >&2; exit 1; }
install -D -m755 "$BIN" "$D$LIBEXEC/mdmon"
install -D -m644 doc/mdmon.8 "$D$MANDIR/man8/mdmon.8"
mkdir -p "$D$UNITDIR/mdmon@.service.d"
sed "s|@MDMON@|$LIBEXEC/mdmon|" initramfs/systemd/mdmon-rs.conf > "$D$UNITDIR/mdmon@.service.d/mdmon-rs.conf"
chmod 644 "$D$UNITDIR/mdmon@.service.d/mdmon-rs.conf"
install -D -m755 initramfs/initramfs-tools/hooks/mdmon-rs "$D$INITRAMFS_HOOKDIR/mdmon-rs"
install -D -m755 initramfs/dracut/70mdmon-rs/module-setup.sh "$D$DRACUTDIR/modules.d/70mdmon-rs/module-setup.sh"
install -D -m644 initramfs/systemd/mdmon@.service "$D$DRACUTDIR/modules.d/70mdmon-rs/mdmon@.service"
install -D -m644 initramfs/dracut/mdmon-rs.conf "$D$DRACUTDIR/dracut.conf.d/70-mdmon-rs.conf"
if [ "$REPLACE_SBIN" = 1 ]; then
	mkdir -p "$D$SBINDIR"
	if [ -e "$D$SBINDIR/mdmon" ] && ! is_ours "$D$SBINDIR/mdmon" && [ ! -e "$D$SBINDIR/mdmon.distro" ]; then
		mv "$D$SBINDIR/mdmon" "$D$SBINDIR/mdmon.distro"
		echo "kept the previous mdmon as $D$SBINDIR/mdmon.distro"
	fi
	rm -f "$D$SBINDIR/mdmon"
	cp "$D$LIBEXEC/mdmon" "$D$SBINDIR/mdmon"
fi
echo "installed mdmon-rs under ${D:-/}; now: systemctl daemon-reload, and rebuild the initramfs" \
	"(update-initramfs -u, or dracut -f)"
