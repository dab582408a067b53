#!/bin/bash
# dracut module for mdmon-rs (Fedora, RHEL, SUSE, Ubuntu >= 25.10).
# Builds on dracut's mdraid module, which installs mdadm, the md udev rules
# and the hooks that start mdmon (through mdadm -I and mdmon@.service) and
# hand over at shutdown (pre-shutdown: `mdmon --takeover --all`; shutdown:
# `mdadm --wait-clean --scan`). This module makes the mdmon in the image
# mdmon-rs and installs its unit.
#
# SPDX-License-Identifier: GPL-2.0-or-later

# The binary to install (default: the installed /sbin/mdmon).
mdmon_rs_bin() { echo "${MDMON_RS:-/sbin/mdmon}"; }

check() {
    local bin
    bin=$(mdmon_rs_bin)
    [[ -x $bin ]] || return 1
    "$bin" --version 2>&1 | grep -q mdmon-rs || return 1
    # Like mdraid: in host-only mode only when the host needs md.
    return 255
}

depends() {
    echo mdraid
    return 0
}

install() {
    local bin
    bin=$(mdmon_rs_bin)
    # Replace whatever mdmon mdraid installed; mdadm looks next to itself,
    # then in BINDIR.
    # (Remove first: dracut does not overwrite what a module installed.)
    rm -f "$initdir/sbin/mdmon" "$initdir/usr/sbin/mdmon"
    inst_simple "$bin" /sbin/mdmon
    [[ -e "$initdir/usr/sbin" && ! -L "$initdir/sbin" ]] && inst_simple "$bin" /usr/sbin/mdmon
    if dracut_module_included "systemd"; then
        rm -f "$initdir$systemdsystemunitdir/mdmon@.service"
        inst_simple "$moddir/mdmon@.service" "$systemdsystemunitdir/mdmon@.service"
    fi
    # mdraid's hooks do the rest: /run/mdadm before udev (pre-udev), and
    # `mdmon --takeover --all` in the exitrd (pre-shutdown), which now runs
    # this binary.
}
