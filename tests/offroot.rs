//! `--offroot` marks argv[0] with '@' in place, as /proc/PID/cmdline shows it.

#[test]
fn argv0_first_byte_becomes_at() {
    let before = std::fs::read("/proc/self/cmdline").unwrap();
    assert_ne!(before[0], b'@');
    mdmon::sys::mark_argv0_offroot().expect("mark");
    let after = std::fs::read("/proc/self/cmdline").unwrap();
    assert_eq!(after[0], b'@');
    assert_eq!(&after[1..], &before[1..], "only the first byte changes");
    // Marking twice changes nothing more.
    mdmon::sys::mark_argv0_offroot().expect("mark again");
    assert_eq!(std::fs::read("/proc/self/cmdline").unwrap(), after);
}

/// The initrd test: tmpfs and ramfs count, other filesystems do not.
#[test]
fn ram_fs_magic_numbers() {
    assert!(mdmon::sys::is_ram_fs_magic(0x0102_1994), "tmpfs");
    assert!(mdmon::sys::is_ram_fs_magic(0x8584_58f6), "ramfs");
    for other in [0xef53u64, 0x9fa0, 0x6265_6572, 0x794c_7630, 0x5846_5342, 0] {
        assert!(!mdmon::sys::is_ram_fs_magic(other), "{other:#x}");
    }
}

/// statfs on real mounts: /proc is procfs (never an initrd root); /dev/shm
/// is tmpfs on every Linux with a usual /dev (skipped where it is not).
#[test]
fn on_ram_fs_reads_the_mount() {
    assert!(!mdmon::sys::on_ram_fs("/proc"));
    assert!(!mdmon::sys::on_ram_fs("/nonexistent-path-for-mdmon-test"));
    let shm_is_tmpfs = std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/dev/shm") && l.split(' ').nth(2) == Some("tmpfs"));
    if shm_is_tmpfs {
        assert!(mdmon::sys::on_ram_fs("/dev/shm"));
    }
}
