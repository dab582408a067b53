#!/bin/bash
# Boot Debian's kernel under qemu (TCG) with the host root as a read-only
# 9p share (tmpfs overlay on top) and run a guest script inside.
#
# usage: tests/vm/vm.sh [-m MEM_MB] [-t TIMEOUT_SECONDS] OUTDIR GUEST_SCRIPT [ARGS...]
#
# OUTDIR (created if needed) is shared writable and appears as /out in the
# guest. GUEST_SCRIPT is run with bash; host paths are identical in the guest.
# Output: guest console on stdout and in OUTDIR/console.log.
# Exit status: the guest script's status; 124 on timeout; 125 if the guest
# never reported one.
# Env: VM_KERNEL=/boot/vmlinuz-... to pick a kernel, or VM_KSERIES=6.12 for the
# newest of a series (default 6.1); VM_QUIET=1 to not echo
# the console to stdout; VM_SMP (default 2); VM_APPEND (extra kernel args);
# VM_QEMU_ARGS (extra qemu arguments, split on spaces, e.g. -drive ...);
# VM_SYSTEMD=1 runs the script as a service under systemd as PID 1.
# Note: the guest mounts tmpfs on /tmp and /run, so host files there are
# invisible in the guest; keep guest scripts elsewhere (e.g. in the repo).
set -euo pipefail

MEM=2048
TIMEOUT=600
while getopts "m:t:h" opt; do
	case $opt in
	m) MEM=$OPTARG ;;
	t) TIMEOUT=$OPTARG ;;
	*) sed -n '2,17p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ]; then
	sed -n '2,17p' "$0" >&2
	exit 2
fi
OUTDIR=$1
SCRIPT=$2
shift 2

VMDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VMDIR/../.." && pwd)
CACHE=$VMDIR/cache

mkdir -p "$OUTDIR" "$CACHE"
OUTDIR=$(cd "$OUTDIR" && pwd)
SCRIPT=$(realpath "$SCRIPT")

# --- kernel --------------------------------------------------------------
KERNEL=${VM_KERNEL:-$(bash "$(dirname "${BASH_SOURCE[0]}")/kernel.sh" "${VM_KSERIES:-6.1}")}
[ -r "$KERNEL" ] || { echo "vm.sh: no readable kernel (/boot/vmlinuz-*-amd64); run tests/vm/setup.sh" >&2; exit 125; }
KVER=${KERNEL##*/vmlinuz-}
MODDIR=/lib/modules/$KVER
[ -d "$MODDIR" ] || { echo "vm.sh: $MODDIR missing" >&2; exit 125; }

# --- initramfs (cached) --------------------------------------------------
# Only what is needed to reach the 9p root; md & co. are modprobed later
# from the host's /lib/modules seen through 9p.
INITRD_MODS="virtio_pci 9pnet_virtio 9p overlay"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
KEY=$( { echo "$KVER $INITRD_MODS"; cat "$VMDIR/initramfs-init"; ls -l --time-style=+%s "$BUSYBOX"; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio

resolve_mods() { # prints module file paths in load order (deps first)
	local -A seen=()
	local order=()
	visit() {
		local m=${1//-/_} d
		[ -n "${seen[$m]:-}" ] && return
		seen[$m]=1
		local fn
		fn=$(modinfo -k "$KVER" -F filename "$m" 2>/dev/null) || { echo "vm.sh: module $m not found" >&2; return 1; }
		[ "$fn" = "(builtin)" ] && return
		for d in $(modinfo -k "$KVER" -F depends "$m" | tr ',' ' '); do
			visit "$d"
		done
		order+=("$fn")
	}
	for m in "$@"; do visit "$m"; done
	printf '%s\n' "${order[@]}"
}

build_initrd() {
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	mkdir -p "$tmp"/{bin,dev,proc,sys,modules}
	cp "$BUSYBOX" "$tmp/bin/busybox"
	# busybox-static is fully static; check anyway
	if ldd "$tmp/bin/busybox" >/dev/null 2>&1; then
		echo "vm.sh: $BUSYBOX is dynamically linked; install busybox-static" >&2; return 1
	fi
	ln -s busybox "$tmp/bin/sh"
	install -m755 "$VMDIR/initramfs-init" "$tmp/init"
	local f base
	resolve_mods $INITRD_MODS | while read -r f; do
		base=${f##*/}
		case $f in
		*.ko) cp "$f" "$tmp/modules/$base" ;;
		*.ko.xz) xz -dc "$f" > "$tmp/modules/${base%.xz}"; base=${base%.xz} ;;
		*.ko.zst) zstd -qdc "$f" > "$tmp/modules/${base%.zst}"; base=${base%.zst} ;;
		*.ko.gz) gzip -dc "$f" > "$tmp/modules/${base%.gz}"; base=${base%.gz} ;;
		esac
		echo "$base" >> "$tmp/modules/order"
	done
	(cd "$tmp" && find . -print0 | cpio --null -o -H newc --quiet ) > "$INITRD.$$.tmp"
	mv "$INITRD.$$.tmp" "$INITRD"
}

if [ ! -s "$INITRD" ]; then
	# Stale ones of this kernel only: another kernel's may be in use by a
	# guest booting meanwhile.
	rm -f "$CACHE/initramfs-$KVER-"*.cpio
	build_initrd
fi

# --- command for the guest ---------------------------------------------
rm -f "$OUTDIR/rc" "$OUTDIR/rc.tmp"
{
	printf 'VM_REPO=%q\n' "$REPO"
	printf 'VM_SYSTEMD=%q\n' "${VM_SYSTEMD:-}"
	printf 'set --'
	printf ' %q' "$SCRIPT" "$@"
	printf '\n'
} > "$OUTDIR/cmd"

# --- boot -----------------------------------------------------------------
# qboot (from qemu-system-data) boots ~1.5s faster than SeaBIOS under TCG
BIOS=()
for d in /usr/share/qemu /usr/share/seabios; do
	[ -r "$d/qboot.rom" ] && { BIOS=(-bios "$d/qboot.rom"); break; }
done
QEMU=(qemu-system-x86_64
	-accel tcg -cpu max -smp "${VM_SMP:-2}" -m "$MEM"
	"${BIOS[@]}" -display none -monitor none -serial stdio -no-reboot
	-nodefaults -vga none
	-kernel "$KERNEL" -initrd "$INITRD"
	-append "console=ttyS0 quiet panic=-1 rdinit=/init vminit=$VMDIR/guest-init.sh ${VM_APPEND:-}"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$OUTDIR,mount_tag=out,security_model=none,multidevs=remap"
)
# shellcheck disable=SC2206
[ -n "${VM_QEMU_ARGS:-}" ] && QEMU+=(${VM_QEMU_ARGS})
start=$(date +%s.%N)
set +e
if [ -n "${VM_QUIET:-}" ]; then
	timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null > "$OUTDIR/console.log" 2>&1
	qrc=$?
else
	timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$OUTDIR/console.log"
	qrc=${PIPESTATUS[0]}
fi
set -e
end=$(date +%s.%N)
printf 'vm.sh: qemu exited (%s) after %.1fs\n' "$qrc" "$(echo "$end - $start" | bc)" >&2
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "vm.sh: TIMEOUT after ${TIMEOUT}s" >&2
	exit 124
fi
if [ -s "$OUTDIR/rc" ]; then
	exit "$(cat "$OUTDIR/rc")"
fi
echo "vm.sh: guest did not report an exit status" >&2
exit 125
