#!/bin/bash
# Under systemd as PID 1 (tests/vm/vm.sh with VM_SYSTEMD=1): our
# mdmon@.service as mdadm uses it, run with each mdmon (ours and mdadm's C
# one: the unit must work whichever binary /sbin/mdmon is). mdadm starts
# `mdmon@<ctr>.service` with systemctl; Type=forking makes the unit active
# once the forked daemon is ready. Handovers: the initrd instance
# (mdmon@initrd-<ctr>, current mdadm's name) to the root one; an mdmon
# started outside systemd (the initramfs-tools case, either naming scheme)
# to the unit; a restart of the same name (what mdadm 4.2 asks for). Stopping
# the unit leaves the array clean.
for a in "$@"; do export "${a?}"; done
IMPLS=${IMPLS:-"c rs"}
. "$VM_REPO/tests/vm/scenarios/common.sh"
unset MDADM_NO_SYSTEMCTL
systemctl set-environment IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
install -m644 "$VM_REPO/initramfs/systemd/mdmon@.service" /etc/systemd/system/mdmon@.service
systemctl daemon-reload
mkdir -p /run/mdadm
unit_prop() { systemctl show -p "$2" --value "$1"; }
impl_bin() { if [ "$IMPL" = rs ]; then echo "$RS_BIN"; else echo "$C_BIN"; fi; }
count_mdmons() { local p n=0 b; b=$(impl_bin); for p in /proc/[0-9]*; do cmp -s "$p/exe" "$b" 2>/dev/null && n=$((n + 1)); done; echo $n; }
wait_for_inactive() { local i; for i in $(seq 100); do [ "$(unit_prop "$1" ActiveState)" = inactive ] && return 0; sleep 0.1; done; return 1; }
# The unit $1 is active and its main process is the instance in the pid file.
check_unit_serves() { # UNIT CTR WHAT
	local main
	check_eq "$(unit_prop "$1" ActiveState)/$(unit_prop "$1" SubState)" active/running "$3: $1"
	main=$(unit_prop "$1" MainPID)
	check_eq "$(mdmon_pid "$2")" "$main" "$3: MainPID is the daemon in the pid file"
	check_eq "$(head -c1 "/proc/$main/cmdline")" "@" "$3: argv[0] marked by --offroot"
}
write_some() { dd if=/dev/urandom of="/dev/$1" bs=64k count=16 oflag=direct status=none || fail "write $2"; }

sc_unit() {
	local disks vol ctr pid
	use_impl "$1"
	disks=$(mkdisks 2 64)
	vol=$(imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	check_eq "$(unit_prop "mdmon@$ctr.service" Type)" forking "unit type"
	# Active as soon as mdadm's systemctl returned: no readiness message is
	# awaited (the C mdmon sends none; a notify unit stays "activating" and
	# is stopped at the start timeout).
	check_unit_serves "mdmon@$ctr.service" "$ctr" "started by mdadm"
	write_some "$vol" "1"
	wait_for "/sys/block/$vol/md/array_state" clean 20 || fail "not clean after the write"

	# Initrd-to-root handover, current mdadm's names: the initrd instance
	# runs, then the root one takes over from it; the initrd unit ends.
	# (mdadm 4.2's C mdmon does not take `initrd/<ctr>`: that mdadm never
	# asks for initrd- names, so this is for ours only.)
	if [ "$1" = rs ]; then
		run systemctl stop "mdmon@$ctr.service"
		run systemctl start "mdmon@initrd-$ctr.service"
		check_unit_serves "mdmon@initrd-$ctr.service" "$ctr" "initrd instance"
		pid=$(mdmon_pid "$ctr")
		run systemctl start "mdmon@$ctr.service"
		check_unit_serves "mdmon@$ctr.service" "$ctr" "root instance after initrd-$ctr"
		wait_for_inactive "mdmon@initrd-$ctr.service" || fail "initrd unit still $(unit_prop "mdmon@initrd-$ctr.service" ActiveState)"
		log "ok: initrd instance (pid $pid) exited: $(unit_prop "mdmon@initrd-$ctr.service" Result)"
		check_eq "$(unit_prop "mdmon@initrd-$ctr.service" Result)" success "initrd unit result"
		check_eq "$(count_mdmons)" 1 "mdmon instances"
		write_some "$vol" "after the initrd-$ctr handover"
	else
		log "skipped for the C mdmon 4.2: initrd/<ctr> names"
	fi

	# initramfs-tools: mdadm forks mdmon itself (no systemd in the image),
	# whichever udev rules; on the root, udev pulls in mdmon@<ctr>, which
	# takes over.
	run systemctl stop "mdmon@$ctr.service"
	/sbin/mdmon "$ctr" || fail "mdmon started as mdadm does in the initramfs"
	pid=$(mdmon_pid "$ctr")
	run systemctl start "mdmon@$ctr.service"
	check_unit_serves "mdmon@$ctr.service" "$ctr" "root instance after an initramfs one"
	# The old instance exits once its arrays are clean (the C mdmon's
	# takeover waits only for its socket to close): give it 15 s.
	for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "the initramfs instance $pid still runs after 15 s"
	check_eq "$(count_mdmons)" 1 "mdmon instances"
	write_some "$vol" "after the initramfs handover"

	# The same name again (mdadm 4.2 asks `systemctl restart mdmon@<ctr>`).
	pid=$(mdmon_pid "$ctr")
	run systemctl restart "mdmon@$ctr.service"
	check_unit_serves "mdmon@$ctr.service" "$ctr" "after a restart"
	[ "$(mdmon_pid "$ctr")" != "$pid" ] || fail "restart kept pid $pid"
	check_eq "$(count_mdmons)" 1 "mdmon instances"
	write_some "$vol" "after the restart"
	wait_for "/sys/block/$vol/md/array_state" clean 20 || fail "not clean after the last write"

	# Stopping the unit: mdmon marks the array clean, then exits.
	run systemctl stop "mdmon@$ctr.service"
	check_eq "$(dirty_state "$(echo "$disks" | head -n1)")" clean "metadata clean after the unit stopped"
	check_eq "$(unit_prop "mdmon@$ctr.service" Result)" success "unit result after stop"
}

# The drop-in on mdadm's own unit (what the package and install.sh
# install), with mdadm's C mdmon at /sbin/mdmon (an mdadm upgrade without
# the package's diversion): the unit still runs ours, from its own path.
sc_dropin() {
	local disks vol ctr main
	use_impl c
	IMPL=rs
	rm -f /etc/systemd/system/mdmon@.service
	mkdir -p /etc/systemd/system/mdmon@.service.d
	sed "s|@MDMON@|$RS_BIN|" "$VM_REPO/initramfs/systemd/mdmon-rs.conf" > /etc/systemd/system/mdmon@.service.d/mdmon-rs.conf
	run systemctl daemon-reload
	case $(unit_prop mdmon@md127.service FragmentPath) in
	*/lib/systemd/system/mdmon@.service) log "ok: mdadm's unit $(unit_prop mdmon@md127.service FragmentPath)" ;;
	*) fail "unit file $(unit_prop mdmon@md127.service FragmentPath), not mdadm's" ;;
	esac
	disks=$(mkdisks 2 64)
	vol=$(imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	check_eq "$(unit_prop "mdmon@$ctr.service" Type)" forking "unit type"
	check_unit_serves "mdmon@$ctr.service" "$ctr" "drop-in"
	main=$(unit_prop "mdmon@$ctr.service" MainPID)
	cmp -s "/proc/$main/exe" "$RS_BIN" || fail "the unit runs $(readlink "/proc/$main/exe"), not ours"
	write_some "$vol" "under the drop-in"
	wait_for "/sys/block/$vol/md/array_state" clean 20 || fail "not clean after the write"
	run systemctl stop "mdmon@$ctr.service"
	check_eq "$(dirty_state "$(echo "$disks" | head -n1)")" clean "metadata clean after the unit stopped"
	rm -rf /etc/systemd/system/mdmon@.service.d
	install -m644 "$VM_REPO/initramfs/systemd/mdmon@.service" /etc/systemd/system/mdmon@.service
	systemctl daemon-reload
}

for impl in $IMPLS; do
	IMPL=$impl
	run_scenario systemd-unit sc_unit "$impl"
done
[[ $IMPLS == *rs* ]] && { IMPL=rs; run_scenario systemd-dropin sc_dropin; }
finish systemd
