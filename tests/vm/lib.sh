#!/bin/bash
# Helpers for guest scenario scripts (source it: . "$VM_REPO/tests/vm/lib.sh").
# Runs inside the VM started by tests/vm/vm.sh (as root, /tmp is tmpfs,
# /out is the host's OUTDIR).

: "${TEST_NAME:=${0##*/}}"
TEST_NAME=${TEST_NAME%.sh}
export MDADM_NO_SYSTEMCTL=1 IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
mkdir -p /run/mdadm

# Helpers spawn no process where a shell builtin does the job: under TCG
# each fork and exec costs 0.1 to 0.3 s, and a scenario makes hundreds.
# read_file FILE: FILE's content without its trailing newline into $REPLY
# (builtins only; empty and false when it cannot be read).
read_file() { REPLY=; [ -r "$1" ] || return 1; IFS= read -r -d '' REPLY 2>/dev/null < "$1"; REPLY=${REPLY%$'\n'}; }
log() { local up _; read -r up _ < /proc/uptime; echo "[$up] $TEST_NAME: $*"; }
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
		[ -e "$f" ] && rm -f "$f"
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

# md_base /dev/md/NAME (or mdX): mdX into $REPLY (a fork only for a link)
md_base() { REPLY=$1; [ -L "$REPLY" ] && REPLY=$(readlink -f "$REPLY"); REPLY=${REPLY##*/}; }
# md_name /dev/md/NAME -> mdX
md_name() { md_base "$1"; echo "$REPLY"; }
# md_exists /dev/md/NAME: the array is assembled (not just a stale link/node)
md_exists() { [ -e "$1" ] && [ -e "/sys/block/$(md_name "$1")/md" ]; }

# md_attr DEV ATTR: cat /sys/block/mdX/md/ATTR
md_attr() { md_base "$1"; read_file "/sys/block/$REPLY/md/$2" && echo "$REPLY"; }

# wait_for FILE VALUE TIMEOUT_S: wait until FILE's content matches VALUE
# (a shell glob, e.g. 'active*' or 'clean'); returns 1 on timeout.
wait_for() {
	local file=$1 want=$2 timeout=${3:-30} end v
	end=$((EPOCHSECONDS + timeout))
	while :; do
		read_file "$file"
		v=$REPLY
		# shellcheck disable=SC2053
		[[ $v == $want ]] && return 0
		[ "$EPOCHSECONDS" -ge "$end" ] && { log "wait_for $file == '$want' timed out (is '$v')"; return 1; }
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
		read_file "$d/metadata_version"
		case $REPLY in external:imsm|external:ddf|none) continue ;; esac
		d=${d%/md}
		mdadm --stop "/dev/${d##*/}" >/dev/null 2>&1
	done
	# Each mdadm or losetup run costs a second under TCG: only when needed.
	local left=(/sys/block/md*)
	[ -e "${left[0]}" ] && mdadm --stop --scan >/dev/null 2>&1
	for d in /sys/block/md*; do
		[ -e "$d" ] && mdadm --stop "/dev/${d##*/}" >/dev/null 2>&1
	done
	local loops=(/sys/block/loop*/loop/backing_file)
	[ -e "${loops[0]}" ] && losetup -D 2>/dev/null
	# without udev, stale /dev/md/* links and /dev/mdX nodes can remain
	for d in /dev/md/* /dev/md[0-9]*; do
		[ -e "$d" ] || [ -L "$d" ] || continue
		md_base "$d"
		[ -e "/sys/block/$REPLY" ] || rm -f "$d"
	done
	local imgs=(/tmp/disk*.img)
	[ -e "${imgs[0]}" ] && rm -f "${imgs[@]}"
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
mdmon_pid() { read_file "/run/mdadm/$1.pid" && echo "$REPLY"; }
