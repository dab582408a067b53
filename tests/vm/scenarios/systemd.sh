#!/bin/bash
# Under systemd as PID 1 (tests/vm/vm.sh with VM_SYSTEMD=1): our
# mdmon@.service as mdadm uses it. mdadm starts `mdmon@<ctr>.service` with
# systemctl; Type=notify makes the unit active only on READY=1; the initrd
# instance (mdmon@initrd-<ctr>) hands over to the root one; stopping the
# unit leaves the array clean.
for a in "$@"; do export "${a?}"; done
IMPLS=rs IMPL=rs
. "$VM_REPO/tests/vm/scenarios/common.sh"
unset MDADM_NO_SYSTEMCTL
systemctl set-environment IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
install -m644 "$VM_REPO/initramfs/systemd/mdmon@.service" /etc/systemd/system/mdmon@.service
systemctl daemon-reload
mkdir -p /run/mdadm
unit_prop() { systemctl show -p "$2" --value "$1"; }
count_mdmons() { local p n=0; for p in /proc/[0-9]*; do cmp -s "$p/exe" "$RS_BIN" 2>/dev/null && n=$((n + 1)); done; echo $n; }

sc_unit() {
	local disks vol ctr pid main
	use_impl rs
	disks=$(mkdisks 2 64)
	vol=$(imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	check_eq "$(unit_prop "mdmon@$ctr.service" ActiveState)" active "unit started by mdadm through systemctl"
	check_eq "$(unit_prop "mdmon@$ctr.service" Type)" notify "unit type"
	main=$(unit_prop "mdmon@$ctr.service" MainPID)
	check_eq "$(mdmon_pid "$ctr")" "$main" "MainPID is the daemon"
	check_eq "$(head -c1 "/proc/$main/cmdline")" "@" "argv[0] marked by --offroot"
	dd if=/dev/urandom of="/dev/$vol" bs=64k count=16 oflag=direct status=none || fail "write"
	wait_for "/sys/block/$vol/md/array_state" clean 20 || fail "not clean after the write"
	# Initrd-to-root handover: the initrd instance runs, then the root one
	# takes over from it; the initrd unit ends cleanly.
	run systemctl stop "mdmon@$ctr.service"
	run systemctl start "mdmon@initrd-$ctr.service"
	check_eq "$(unit_prop "mdmon@initrd-$ctr.service" ActiveState)" active "initrd instance active"
	pid=$(mdmon_pid "$ctr")
	run systemctl start "mdmon@$ctr.service"
	check_eq "$(unit_prop "mdmon@$ctr.service" ActiveState)" active "root instance active"
	main=$(unit_prop "mdmon@$ctr.service" MainPID)
	check_eq "$(mdmon_pid "$ctr")" "$main" "pid file names the root instance"
	wait_for_inactive() { local i; for i in $(seq 100); do [ "$(unit_prop "$1" ActiveState)" = inactive ] && return 0; sleep 0.1; done; return 1; }
	wait_for_inactive "mdmon@initrd-$ctr.service" || fail "initrd unit still $(unit_prop "mdmon@initrd-$ctr.service" ActiveState)"
	log "ok: initrd instance (pid $pid) exited: $(unit_prop "mdmon@initrd-$ctr.service" Result)"
	check_eq "$(unit_prop "mdmon@initrd-$ctr.service" Result)" success "initrd unit result"
	check_eq "$(count_mdmons)" 1 "mdmon instances"
	dd if=/dev/urandom of="/dev/$vol" bs=64k count=16 oflag=direct status=none || fail "write after the handover"
	# Stopping the unit: mdmon marks the array clean, then exits.
	run systemctl stop "mdmon@$ctr.service"
	check_eq "$(dirty_state "$(echo "$disks" | head -n1)")" clean "metadata clean after the unit stopped"
	check_eq "$(unit_prop "mdmon@$ctr.service" Result)" success "unit result after stop"
}

run_scenario systemd-unit sc_unit
finish systemd
