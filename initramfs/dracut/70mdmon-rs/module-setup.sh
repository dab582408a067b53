#!/bin/bash
# dracut module for mdmon-rs (Fedora, RHEL, SUSE, Ubuntu >= 25.10).
# Builds on dracut's mdraid module, which installs mdadm, the md udev rules
# and the hooks that start mdmon (through mdadm -I and mdmon@.service) and
# hand over at shutdown (pre-shutdown: `mdmon --takeover --all`; shutdown:
# `mdadm --wait-clean --scan`). This module makes the mdmon in the image
# mdmon-rs and installs its unit. The dracut.conf.d file shipped with it
# (add_dracutmodules+=" mdmon-rs ") puts it in every image.
#
# SPDX-License-Identifier: GPL-2.0-or-later

# The binary to install: MDMON_RS if set, else mdmon-rs's own copy (which
# no mdadm upgrade replaces), else /sbin/mdmon if that is mdmon-rs.
mdmon_rs_bin() {
    local b
    for b in ${MDMON_RS:+"$MDMON_RS"} /usr/lib/mdmon-rs/mdmon /usr/local/lib/mdmon-rs/mdmon /sbin/mdmon /usr/sbin/mdmon; do
        [[ -x $b ]] && "$b" --version 2>&1 | grep -q '^mdmon-rs' && { echo "$b"; return 0; }
        # An explicit MDMON_RS that is not mdmon-rs is an error, not a hint.
        [[ $b == "${MDMON_RS:-}" ]] && return 1
    done
    return 1
}

check() {
    # 1: cannot be installed (no mdmon-rs binary); 0: include by default.
    # Installing mdmon-rs is asking for it: its images need it even when
    # dracut builds them host-only.
    mdmon_rs_bin > /dev/null || return 1
    return 0
}

depends() {
    echo mdraid
    return 0
}

install() {
    local bin
    bin=$(mdmon_rs_bin) || { derror "mdmon-rs: no mdmon-rs binary found"; return 1; }
    # Replace whatever mdmon mdraid installed; mdadm looks next to itself,
    # then in BINDIR.
    # (Remove first: dracut does not overwrite what a module installed.)
    rm -f "$initdir/sbin/mdmon" "$initdir/usr/sbin/mdmon"
    inst_simple "$bin" /sbin/mdmon
    [[ -e "$initdir/usr/sbin" && ! -L "$initdir/sbin" ]] && inst_simple "$bin" /usr/sbin/mdmon
    if dracut_module_included "systemd"; then
        # Our full unit (Type=forking, /sbin/mdmon); no host drop-in, whose
        # path may not exist in the image.
        rm -f "$initdir$systemdsystemunitdir/mdmon@.service"
        rm -rf "$initdir$systemdsystemunitdir/mdmon@.service.d"
        inst_simple "$moddir/mdmon@.service" "$systemdsystemunitdir/mdmon@.service"
    fi
    # mdraid's hooks do the rest: /run/mdadm before udev (pre-udev), and
    # `mdmon --takeover --all` in the exitrd (pre-shutdown), which now runs
    # this binary.
}
