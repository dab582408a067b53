#!/bin/bash
# Runs tests/vm/package-steps.sh (the package's install, mdadm reinstall,
# purge) as root in a throwaway chroot at host speed: a private mount
# namespace (unshare -m) with an overlay whose lower layer is BASE (default
# /, the host's Debian root; or a Debian root made by mmdebstrap) and whose
# upper layer is a tmpfs. Nothing is written to BASE or to the host's root;
# all goes away when the namespace ends, except the images and logs copied
# to OUT.
# usage: tests/vm/package-root.sh OUT KVER DEB MDADM_DEB [BASE]
#   writes OUT/initrd-pkg0.img, initrd-pkg.img, initrd-purged.img, kernel,
#   and the dpkg logs; prints package-steps.sh's "ok"/"FAIL" lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
KVER=$2 DEB=$(realpath "$3") MDADM_DEB=$(realpath "$4") BASE=$(realpath "${5:-/}")
[ -r "/boot/vmlinuz-$KVER" ] && [ -d "/lib/modules/$KVER" ] || { echo "package-root.sh: no kernel $KVER on the host" >&2; exit 1; }
NS=/work/tmp-pkg/ns.$$
mkdir -p "$NS"
rm -f "$OUT"/initrd-*.img "$OUT/kernel"
cp "/boot/vmlinuz-$KVER" "$OUT/kernel"
export NS OUT KVER DEB MDADM_DEB BASE STEPS=$PWD/tests/vm/package-steps.sh REPO=$PWD
rc=0
unshare -m bash -euo pipefail -c '
	. "$REPO/tests/vm/overlay-root.sh"
	# The kernel the images are built for (update-initramfs -u looks for the
	# newest /boot/vmlinuz-*), unless the base is the host root itself.
	k=$KVER
	[ "$BASE" = / ] && k=
	overlay_root "$NS" "$BASE" 8g "$k"
	mkdir "$M/tmp/pkg"
	cp "$DEB" "$MDADM_DEB" "$STEPS" "$M/tmp/pkg/"
	rc=0
	chroot "$M" bash /tmp/pkg/package-steps.sh /tmp/pkg "$KVER" || rc=$?
	cp "$M"/tmp/pkg/*.img "$M"/tmp/pkg/*.log "$OUT/" 2>/dev/null || true
	exit $rc
' || rc=$?
rmdir "$NS" 2>/dev/null || true
exit $rc
