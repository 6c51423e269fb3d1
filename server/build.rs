//! Records the git commit this binary is built from, for `weft_build_info` on `/metrics`:
//! `WEFT_BUILD_COMMIT` when set (Docker builds, which have no `.git`), else
//! `git rev-parse --short HEAD`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WEFT_BUILD_COMMIT");
    let commit = std::env::var("WEFT_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WEFT_BUILD_COMMIT={}", commit.trim());
    // Built again when HEAD moves: the checked-out branch's ref, or HEAD itself when detached.
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"])
            .and_then(|r| git(&["rev-parse", "--git-path", r.trim()])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    .filter(|p| std::path::Path::new(p.trim()).exists())
    {
        println!("cargo:rerun-if-changed={}", path.trim());
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        .filter(|s| !s.trim().is_empty())
}
