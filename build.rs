//! Embeds the version and the run directory (default `/run/mdadm`,
//! overridable with `MDMON_RUN_DIR` at build time).
//!
//! The version is the package version plus `git describe` when built from
//! this repository's own checkout. Cargo is told which git files the
//! description depends on (HEAD, the branch it points to, packed refs, tags,
//! the index), so a commit or checkout rebuilds it instead of embedding a
//! stale one. From a tarball (no git, or the tarball unpacked inside some
//! other repository) the package version alone is used.
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let o = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn watch(p: &Path) {
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// `git describe` for the checkout at `dir`, or None if `dir` is not the top
/// of a git work tree. Prints the rerun-if-changed lines it depends on.
fn describe(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // In a linked worktree HEAD and index are per worktree, refs are shared.
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let git_dir = abs(git(dir, &["rev-parse", "--git-dir"])?);
    let common = abs(git(dir, &["rev-parse", "--git-common-dir"]).unwrap_or_else(|| git_dir.display().to_string()));
    watch(&git_dir.join("HEAD"));
    watch(&git_dir.join("index"));
    if let Some(r) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&common.join(r));
    }
    watch(&common.join("packed-refs"));
    watch(&common.join("refs/tags"));
    git(dir, &["describe", "--always", "--dirty"])
}

fn main() {
    let run_dir = std::env::var("MDMON_RUN_DIR").unwrap_or_else(|_| "/run/mdadm".to_string());
    println!("cargo:rustc-env=MDMON_RUN_DIR={run_dir}");
    println!("cargo:rerun-if-env-changed=MDMON_RUN_DIR");
    // Naming any file turns off cargo's default (rerun on any change in the
    // package); keep the sources watched so `--dirty` follows edits.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    // The daemon's cold code in its own pages, left out of its memory lock
    // (src/sys/cold.rs). GNU ld and lld both take the script.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let script =
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())).join("link/cold.ld");
        println!("cargo:rerun-if-changed=link/cold.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
    let pkg = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let version = match describe(&manifest) {
        Some(d) => format!("{pkg} ({d})"),
        None => pkg,
    };
    println!("cargo:rustc-env=MDMON_VERSION={version}");
}
