#!/bin/bash
# Build the Debian package: target/debian/mdmon-rs_<version>_amd64.deb.
# Uses the static musl binary (built here if missing or older than the
# sources) and install.sh to lay out the files, then dpkg-deb.
#   packaging/build-deb.sh            # build
#   NO_BUILD=1 packaging/build-deb.sh # package the binary as it is
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/x86_64-unknown-linux-musl/release/mdmon
[ -n "${NO_BUILD:-}" ] || cargo build --release --target x86_64-unknown-linux-musl
"$BIN" --version | grep -q '^mdmon-rs ' || { echo "build-deb.sh: $BIN is not mdmon-rs" >&2; exit 1; }

# Version: Cargo's, plus the commit time and hash of a git checkout so each
# commit's package sorts after the previous one.
pkgver=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
if git rev-parse --show-toplevel > /dev/null 2>&1 && [ "$(git rev-parse --show-toplevel)" = "$PWD" ]; then
	pkgver="$pkgver+git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$(git rev-parse --short HEAD)"
	git diff --quiet HEAD -- src Cargo.toml Cargo.lock build.rs packaging initramfs doc install.sh || pkgver="$pkgver.dirty"
fi
version="$pkgver-1"

S=target/debian/stage
rm -rf "$S"
mkdir -p "$S/DEBIAN"
# Files: what install.sh installs, at Debian's places.
DESTDIR=$S PREFIX=/usr BIN=$BIN UNITDIR=/lib/systemd/system REPLACE_SBIN=0 \
	INITRAMFS_HOOKDIR=/usr/share/initramfs-tools/hooks DRACUTDIR=/usr/lib/dracut ./install.sh > /dev/null
# /sbin/mdmon: the path mdadm's package ships (diverted by preinst).
mkdir -p "$S/sbin"
ln -s /usr/lib/mdmon-rs/mdmon "$S/sbin/mdmon"
gzip -9n "$S/usr/share/man/man8/mdmon.8"
install -D -m644 packaging/debian/copyright "$S/usr/share/doc/mdmon-rs/copyright"
install -m755 packaging/debian/preinst packaging/debian/postinst packaging/debian/postrm "$S/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$S" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/debian/control > "$S/DEBIAN/control"
(cd "$S" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$S/DEBIAN/md5sums"
find "$S" -type d -exec chmod 755 {} +
out=target/debian/mdmon-rs_${version}_amd64.deb
rm -f target/debian/mdmon-rs_*.deb
dpkg-deb --root-owner-group -Zxz --build "$S" "$out" > /dev/null
echo "$out"
