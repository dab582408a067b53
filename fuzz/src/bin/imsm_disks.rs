mdmon_fuzz::target_main!(mdmon_fuzz::imsm_disks);
