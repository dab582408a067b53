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
