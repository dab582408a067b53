//! The embedded version follows the checkout: after a commit or a checkout
//! cargo reruns build.rs (rerun-if-changed on the git files), so the binary
//! names the commit HEAD is at now, not the one of its first build.

use std::process::Command;

#[test]
fn version_names_the_current_commit() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let describe = Command::new("git").args(["-C", dir, "describe", "--always"]).output();
    let top = Command::new("git").args(["-C", dir, "rev-parse", "--show-toplevel"]).output();
    let (Ok(describe), Ok(top)) = (describe, top) else {
        eprintln!("no git: built from a tarball, nothing to compare");
        return;
    };
    let top = String::from_utf8_lossy(&top.stdout).trim().to_string();
    if !describe.status.success() || std::fs::canonicalize(&top).ok() != std::fs::canonicalize(dir).ok() {
        eprintln!("not this repository's checkout: the package version alone is embedded");
        return;
    }
    let want = String::from_utf8_lossy(&describe.stdout).trim().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_mdmon")).arg("--version").output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // "mdmon-rs 0.1.0 (DESCRIBE)" or "mdmon-rs 0.1.0 (DESCRIBE-dirty)".
    let inner = got.split_once('(').and_then(|(_, r)| r.strip_suffix(')')).unwrap_or("");
    let inner = inner.strip_suffix("-dirty").unwrap_or(inner);
    assert_eq!(inner, want, "{got}");
    assert!(got.starts_with(&format!("mdmon-rs {} (", env!("CARGO_PKG_VERSION"))), "{got}");
}
