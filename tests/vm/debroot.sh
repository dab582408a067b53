#!/bin/bash
# A minimal Debian 12 root (mmdebstrap minbase + systemd, udev, mdadm,
# initramfs-tools; about 240 MB, 3-4 minutes from the apt mirror), made once
# into DIR (default /work/tmp-pkg/debroot, or DEBROOT) and left there: the
# base of the package tests' throwaway chroots (tests/vm/package-root.sh,
# tests/vm/boot-systemd.sh), which never write to it.
# usage: tests/vm/debroot.sh [DIR]   prints DIR
set -euo pipefail
R=${1:-${DEBROOT:-/work/tmp-pkg/debroot}}
if [ ! -x "$R/lib/systemd/systemd" ] || [ ! -x "$R/sbin/mdadm" ]; then
	command -v mmdebstrap > /dev/null || apt-get install -y mmdebstrap > /dev/null 2>&1 \
		|| { echo "debroot.sh: apt-get install mmdebstrap failed" >&2; exit 1; }
	mkdir -p "$(dirname "$R")"
	rm -rf "$R"
	log=$(dirname "$R")/mmdebstrap.log
	mmdebstrap --variant=minbase --include=systemd-sysv,udev,mdadm,initramfs-tools,kmod,e2fsprogs,busybox,zstd,procps \
		bookworm "$R" http://deb.debian.org/debian > "$log" 2>&1 \
		|| { tail -n 20 "$log" >&2; echo "debroot.sh: mmdebstrap failed" >&2; exit 1; }
fi
echo "$R"
