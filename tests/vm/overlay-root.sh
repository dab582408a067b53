#!/bin/bash
# Host-side helper for the package tests (source it inside `unshare -m`):
# overlay_root NS BASE SIZE [KVER] mounts a throwaway root at NS/m, an
# overlay whose lower layer is BASE and whose upper layer is a tmpfs of
# SIZE, with /proc, /sys, /dev, /run and /tmp for chroot; with KVER, also
# the host's modules of that kernel (read-only) and its /boot files, for
# update-initramfs. Sets M to the root. Nothing is written to BASE.
overlay_root() { # NS BASE SIZE [KVER]
	local ns=$1 base=$2 size=$3 kver=${4:-}
	mount --make-rprivate /
	mount -t tmpfs -o "size=$size" tmpfs "$ns"
	mkdir "$ns/u" "$ns/w" "$ns/m"
	mount -t overlay overlay -o "lowerdir=$base,upperdir=$ns/u,workdir=$ns/w" "$ns/m"
	M=$ns/m
	mount -t proc proc "$M/proc"
	mount --rbind /sys "$M/sys"
	mount --rbind /dev "$M/dev"
	mount -t tmpfs tmpfs "$M/run"
	mount -t tmpfs tmpfs "$M/tmp"
	if [ -n "$kver" ]; then
		mkdir -p "$M/lib/modules/$kver" "$M/boot"
		mount --bind -o ro "/lib/modules/$kver" "$M/lib/modules/$kver"
		cp "/boot/vmlinuz-$kver" "/boot/config-$kver" "/boot/System.map-$kver" "$M/boot/"
	fi
}
