#!/bin/bash
# Install what the VM tests need on a Debian bookworm machine (run as root).
# Idempotent; quick when everything is present.
set -euo pipefail
PKGS=(qemu-system-x86 linux-image-amd64 mdadm busybox-static cpio bc file python3 kmod util-linux
	initramfs-tools e2fsprogs zstd dracut-core pigz)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y "${PKGS[@]}"
fi
if command -v rustup >/dev/null 2>&1; then
	rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
		|| rustup target add x86_64-unknown-linux-musl
else
	echo "setup.sh: rustup not found; cannot add x86_64-unknown-linux-musl target" >&2
fi
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || { echo "setup.sh: no /boot/vmlinuz-*-amd64" >&2; exit 1; }
# The newer stacks of the test matrix: kernel 6.12 (bookworm-backports) and
# upstream mdadm 4.4 built from Debian 13's source (tests/vm/setup-stacks.sh).
[ "${MDMON_SETUP_STACKS:-1}" = 0 ] || bash "$(dirname "$0")/setup-stacks.sh"
