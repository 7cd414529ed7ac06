//! The release image's Dockerfile matches the workspace (docker cannot build here, so this is the check):
//! two stages, the build stage compiles exactly the rr-daemon and rr-cli packages with the stripped `dist`
//! profile that Cargo.toml defines and installs protoc, the runtime stage copies those two binaries from the
//! build stage's output, runs as a non-root numeric user (the one the Kubernetes DaemonSet runs as) and
//! starts rr-daemon; `.dockerignore` keeps `target/` and `.git` out of the build context.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Dockerfile instructions with continuation lines joined and comments dropped: (keyword, arguments).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                let (k, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((k.to_ascii_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_stages_and_paths_match_the_workspace() {
    let ins = instructions(&read("Dockerfile"));
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(froms.len(), 2, "a build and a runtime stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(froms[0].starts_with("rust:"), "{}", froms[0]);
    assert!(
        froms[1].contains("distroless") && froms[1].ends_with(" AS runtime"),
        "{}",
        froms[1]
    );

    let stage_of = |i: usize| ins[..=i].iter().filter(|(k, _)| k == "FROM").count();
    let runs: Vec<(usize, &str)> = ins
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "RUN")
        .map(|(i, (_, a))| (stage_of(i), a.as_str()))
        .collect();
    assert!(
        runs.iter()
            .any(|(s, r)| *s == 1 && r.contains("protobuf-compiler"))
    );
    let build = runs
        .iter()
        .find(|(_, r)| r.contains("cargo build"))
        .expect("a cargo build")
        .1;
    assert!(
        build.contains("--locked") && build.contains("--profile dist"),
        "{build}"
    );
    let cargo_cmd = build
        .split("cargo build")
        .nth(1)
        .and_then(|c| c.split("&&").next())
        .expect("cargo build command");
    let mut pkgs: Vec<&str> = cargo_cmd
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "-p")
        .map(|w| w[1])
        .collect();
    pkgs.sort();
    assert_eq!(pkgs, ["rr-cli", "rr-daemon"]);
    for p in &pkgs {
        // Each package is a workspace member with a binary of its own name.
        let manifest = read(&format!("{p}/Cargo.toml"));
        assert!(manifest.contains(&format!("name = \"{p}\"")), "{p}/Cargo.toml");
        assert!(repo().join(p).join("src/main.rs").exists(), "{p}/src/main.rs");
        assert!(
            read("Cargo.toml").contains(&format!("\"{p}\"")),
            "{p} is not a workspace member"
        );
        assert!(build.contains(&format!("target/dist/{p}")), "{build}");
    }
    // The profile exists and strips.
    let cargo = read("Cargo.toml");
    let dist = cargo
        .split("[profile.dist]")
        .nth(1)
        .expect("[profile.dist] in Cargo.toml");
    let dist = dist.split("\n[").next().unwrap_or(dist);
    assert!(
        dist.contains("strip = \"symbols\"") && dist.contains("debug = 0"),
        "{dist}"
    );

    // The runtime stage takes exactly the two binaries from the build stage, as a non-root user.
    let copies: Vec<&str> = ins
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| k == "COPY" && stage_of(*i) == 2)
        .map(|(_, (_, a))| a.as_str())
        .collect();
    assert_eq!(
        copies,
        ["--from=build /out/rr-daemon /out/rr-cli /usr/local/bin/"]
    );
    assert!(
        build.contains("cp target/dist/rr-daemon target/dist/rr-cli /out/"),
        "{build}"
    );
    let user = ins
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .expect("USER")
        .1
        .clone();
    let uid: u32 = user
        .split(':')
        .next()
        .expect("uid")
        .parse()
        .expect("numeric uid (runAsNonRoot checks it)");
    assert_ne!(uid, 0);
    let ds = read("deploy/kubernetes/daemonset.yaml");
    assert!(
        ds.contains(&format!("runAsUser: {uid}")),
        "the DaemonSet runs as another user than the image"
    );
    let entry = &ins
        .iter()
        .rev()
        .find(|(k, _)| k == "ENTRYPOINT")
        .expect("ENTRYPOINT")
        .1;
    assert_eq!(entry, "[\"/usr/local/bin/rr-daemon\"]");

    // The build context leaves out the build output and git.
    let ignore = read(".dockerignore");
    for p in ["target", ".git"] {
        assert!(ignore.lines().any(|l| l.trim() == p), ".dockerignore lacks {p}");
    }
}
