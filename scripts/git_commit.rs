// Shared by the build scripts of rr-daemon and rr-cli (`include!`d): sets `RR_GIT_COMMIT` for `env!` to the
// `RR_GIT_COMMIT` of the build environment (a container build without `.git`), else `git rev-parse --short=12
// HEAD`, else `unknown`.
fn git_commit() {
    println!("cargo:rerun-if-env-changed=RR_GIT_COMMIT");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = std::env::var("RR_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Rebuild when HEAD moves (a commit, a checkout): logs/HEAD is written on both.
    for p in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=RR_GIT_COMMIT={commit}");
}
