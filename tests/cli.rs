//! The command line as mdmon users and scripts see it: `--help` on stdout
//! with exit 0, bad flags and a missing container on stderr with exit 2
//! (the C mdmon's usage exit code), `--version` naming mdmon-rs.

use std::process::{Command, Output};

fn mdmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmon")).args(args).output().expect("run mdmon")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    for flag in ["--help", "-h"] {
        let o = mdmon(&[flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let out = text(&o.stdout);
        assert!(out.starts_with("Usage: mdmon"), "{flag}: {out}");
        for opt in ["--all", "--takeover", "--foreground", "--offroot", "--version"] {
            assert!(out.contains(opt), "{flag}: {opt} missing from {out}");
        }
        assert!(o.stderr.is_empty(), "{flag}: {}", text(&o.stderr));
    }
}

#[test]
fn bad_flag_prints_usage_on_stderr_and_exits_2() {
    for args in [&["--bogus"][..], &["-x", "md127"], &["md126", "md127"], &["--all=yes"]] {
        let o = mdmon(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o.stdout));
        let err = text(&o.stderr);
        assert!(err.starts_with("mdmon: "), "{args:?}: {err}");
        assert!(err.contains("Usage: mdmon"), "{args:?}: {err}");
    }
}

#[test]
fn no_container_is_a_usage_error() {
    let o = mdmon(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("no container given") && err.contains("Usage: mdmon"), "{err}");
}

#[test]
fn help_is_a_container_name_not_a_help_trigger() {
    // argh treats a bare `help` as a help request by default; mdmon takes it
    // as a (missing) device, as the C mdmon would.
    let o = mdmon(&["help"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("/dev/help"), "{}", text(&o.stderr));
}

#[test]
fn version_names_mdmon_rs() {
    let o = mdmon(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("mdmon-rs "), "{}", text(&o.stdout));
}
