//! Embeds the version and the run directory (default `/run/mdadm`,
//! overridable with `MDMON_RUN_DIR` at build time).
fn main() {
    let run_dir = std::env::var("MDMON_RUN_DIR").unwrap_or_else(|_| "/run/mdadm".to_string());
    println!("cargo:rustc-env=MDMON_RUN_DIR={run_dir}");
    println!("cargo:rerun-if-env-changed=MDMON_RUN_DIR");
    let git = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let version = if git.is_empty() {
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    } else {
        format!("{} ({git})", std::env::var("CARGO_PKG_VERSION").unwrap_or_default())
    };
    println!("cargo:rustc-env=MDMON_VERSION={version}");
}
