#!/bin/bash
# Helpers for guest scenario scripts (source it: . "$VM_REPO/tests/vm/lib.sh").
# Runs inside the VM started by tests/vm/vm.sh (as root, /tmp is tmpfs,
# /out is the host's OUTDIR).

: "${TEST_NAME:=$(basename "${0%.sh}")}"
export MDADM_NO_SYSTEMCTL=1 IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
mkdir -p /run/mdadm

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $TEST_NAME: $*"; }
fail() { log "FAIL: $*"; exit 1; }

# run a command, logging it; fail if it fails
run() { log "+ $*"; "$@" || fail "command failed ($?): $*"; }

# mkdisks N SIZE_MB [PREFIX]: N sparse files /tmp/PREFIXi.img on loop devices;
# echoes the loop device names (one per line). Env: DISK_SECTOR_SIZE (the
# loop devices' logical sector size; the default is losetup's, 512).
mkdisks() {
	local n=$1 size=$2 prefix=${3:-disk} i f ss=()
	[ -n "${DISK_SECTOR_SIZE:-}" ] && ss=(--sector-size "$DISK_SECTOR_SIZE")
	for ((i = 0; i < n; i++)); do
		f=/tmp/$prefix$i.img
		rm -f "$f"
		truncate -s "${size}M" "$f" || fail "truncate $f"
		losetup -f --show "${ss[@]}" "$f" || fail "losetup $f"
	done
}

# imsm_create NAME LEVEL NDISKS DISKS...
# Creates container /dev/md/imsm0 over DISKS and volume /dev/md/NAME in it.
# Env: IMSM_SIZE (-z, default 16M), IMSM_ASSUME_CLEAN (default 1),
# IMSM_CONTAINER (default imsm0), IMSM_VOL_OPTS (extra mdadm options).
# Echoes the md device name of the volume (e.g. md126).
imsm_create() {
	local name=$1 level=$2 n=$3 ctr=/dev/md/${IMSM_CONTAINER:-imsm0}
	shift 3
	local opts=(-z "${IMSM_SIZE:-16M}")
	[ "${IMSM_ASSUME_CLEAN:-1}" = 1 ] && opts+=(--assume-clean)
	if ! md_exists "$ctr"; then
		log "+ mdadm -CR $ctr -e imsm -n $n $*" >&2
		mdadm -CR "$ctr" -e imsm -n "$n" "$@" >&2 || fail "container creation failed"
	fi
	log "+ mdadm -CR /dev/md/$name -l $level -n $n $ctr ${opts[*]} ${IMSM_VOL_OPTS:-}" >&2
	# shellcheck disable=SC2086
	mdadm -CR "/dev/md/$name" -l "$level" -n "$n" "$ctr" "${opts[@]}" ${IMSM_VOL_OPTS:-} >&2 \
		|| fail "volume creation failed"
	md_name "/dev/md/$name"
}

# md_name /dev/md/NAME -> mdX
md_name() { basename "$(readlink -f "$1")"; }
# md_exists /dev/md/NAME: the array is assembled (not just a stale link/node)
md_exists() { [ -e "$1" ] && [ -e "/sys/block/$(md_name "$1")/md" ]; }

# md_attr DEV ATTR: cat /sys/block/mdX/md/ATTR
md_attr() { cat "/sys/block/$(md_name "$1")/md/$2"; }

# wait_for FILE VALUE TIMEOUT_S: wait until FILE's content matches VALUE
# (a shell glob, e.g. 'active*' or 'clean'); returns 1 on timeout.
wait_for() {
	local file=$1 want=$2 timeout=${3:-30} end v
	end=$(($(date +%s) + timeout))
	while :; do
		v=$(cat "$file" 2>/dev/null) || v=
		# shellcheck disable=SC2053
		[[ $v == $want ]] && return 0
		[ "$(date +%s)" -ge "$end" ] && { log "wait_for $file == '$want' timed out (is '$v')"; return 1; }
		sleep 0.2
	done
}

# wait_idle DEV TIMEOUT_S: wait until sync_action is idle
wait_idle() { wait_for "/sys/block/$(md_name "$1")/md/sync_action" idle "${2:-120}"; }

# cleanup_md: stop all arrays (volumes first, then containers), detach loops
cleanup_md() {
	local d
	for d in /sys/block/md*/md; do
		[ -e "$d/metadata_version" ] || continue
		case $(cat "$d/metadata_version") in external:imsm|external:ddf|none) continue ;; esac
		mdadm --stop "/dev/$(basename "$(dirname "$d")")" >/dev/null 2>&1
	done
	mdadm --stop --scan >/dev/null 2>&1
	mdadm -Ss >/dev/null 2>&1
	for d in /sys/block/md*; do
		[ -e "$d" ] && mdadm --stop "/dev/${d##*/}" >/dev/null 2>&1
	done
	losetup -D 2>/dev/null
	# without udev, stale /dev/md/* links and /dev/mdX nodes can remain
	for d in /dev/md/* /dev/md[0-9]*; do
		[ -e "$d" ] || [ -L "$d" ] || continue
		[ -e "/sys/block/$(md_name "$d")" ] || rm -f "$d"
	done
	rm -f /tmp/disk*.img
	# A scenario that failed while md was slowed must not slow the next.
	echo 1000 > /proc/sys/dev/raid/speed_limit_min 2>/dev/null
	echo 200000 > /proc/sys/dev/raid/speed_limit_max 2>/dev/null
	return 0
}

# check_eq ACTUAL EXPECTED MSG
check_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; log "ok: $3 = '$2'"; }
# check_attr DEV ATTR EXPECTED_GLOB
check_attr() {
	local v
	v=$(md_attr "$1" "$2")
	# shellcheck disable=SC2053
	[[ $v == $3 ]] || fail "$1 $2: got '$v', expected '$3'"
	log "ok: $1 $2 = '$v'"
}
# check CMD...: fail unless CMD succeeds
check() { "$@" || fail "check failed: $*"; log "ok: $*"; }

# disk_tail DEV OUTFILE [BYTES]: copy the last BYTES (default 8192) of DEV
disk_tail() {
	local dev=$1 out=$2 bytes=${3:-8192} size
	size=$(blockdev --getsize64 "$dev")
	dd if="$dev" of="$out" bs=512 skip=$(((size - bytes) / 512)) count=$((bytes / 512)) \
		iflag=direct status=none || fail "dd tail of $dev"
}

# mdmon_pid CONTAINER_MDNAME (e.g. md127): pid of the mdmon serving it
mdmon_pid() { cat "/run/mdadm/$1.pid" 2>/dev/null; }
