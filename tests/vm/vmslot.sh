#!/bin/bash
# vmslot.sh CMD...: run CMD when one of VMSLOTS (default 2) VM slots is
# free. For developers running several VM jobs at once on a small machine
# (each TCG guest takes a core). Waiters are served oldest first; with
# VMSLOT_BULK=1 a job also lets every non-bulk waiter go before it.
set -u
slots=${VMSLOTS:-2}
dir=${VMSLOT_DIR:-/tmp/vmslot}
mkdir -p "$dir"
me="$dir/wait.$$"
[ "${VMSLOT_BULK:-0}" = 1 ] && me="$me.bulk"
touch "$me"
trap 'rm -f "$me"' EXIT
first_waiter() {
	local w
	if [ "${VMSLOT_BULK:-0}" != 1 ]; then
		w=$(ls -1tr "$dir"/wait.* 2>/dev/null | grep -v '\.bulk$' | head -1)
	else
		w=$(ls -1tr "$dir"/wait.* 2>/dev/null | grep -v '\.bulk$' | head -1)
		[ -n "$w" ] && { echo "$w"; return; }
		w=$(ls -1tr "$dir"/wait.* 2>/dev/null | head -1)
	fi
	# forget waiters that died
	local pid=${w#"$dir"/wait.}; pid=${pid%.bulk}
	if [ -n "$w" ] && ! kill -0 "$pid" 2>/dev/null; then rm -f "$w"; first_waiter; return; fi
	echo "$w"
}
while :; do
	if [ "$(first_waiter)" = "$me" ]; then
		for i in $(seq 0 $((slots - 1))); do
			exec {fd}>"$dir/slot.$i"
			if flock -n "$fd"; then
				rm -f "$me"
				trap - EXIT
				"$@"
				exit $?
			fi
			exec {fd}>&-
		done
	fi
	sleep 2
done
