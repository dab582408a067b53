mdmon_fuzz::target_main!(mdmon_fuzz::sysfs);
