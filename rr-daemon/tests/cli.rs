//! The binary's start-up contract: the container's environment (plain and `CALICO_`-prefixed) and flags, and a
//! bad setting that stops start-up with exit code 2 and a message naming it.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rr-daemon"));
    c.args(args);
    for k in [
        "IP",
        "IP6",
        "NODENAME",
        "DATASTORE_TYPE",
        "ETCD_ENDPOINTS",
        "KUBECONFIG",
    ] {
        c.env_remove(k).env_remove(format!("CALICO_{k}"));
    }
    c.envs(env.iter().copied());
    let o = c.output().expect("run rr-daemon");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn example() -> String {
    format!("{}/../examples/calico.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn plain_environment_is_read() {
    let f = example();
    let (code, out, err) = run(
        &["--check-config"],
        &[
            ("DATASTORE_TYPE", "file"),
            ("IP", "127.0.1.1"),
            ("NODENAME", "rr1"),
            ("IP6", "::1"),
        ],
    );
    assert_eq!(code, 2, "file datastore without --file must fail: {out}{err}");
    assert!(err.contains("--file"), "{err}");
    let (code, out, err) = run(
        &["--check-config", "--file", &f],
        &[
            ("DATASTORE_TYPE", "file"),
            ("IP", "127.0.1.1"),
            ("NODENAME", "rr1"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("127.0.1.1") && out.contains("nodename:         rr1"),
        "{out}"
    );
}

#[test]
fn calico_prefixed_variable_wins_over_plain_and_flag_wins_over_both() {
    let f = example();
    let (code, out, err) = run(
        &["--check-config", "--file", &f],
        &[
            ("IP", "not-an-ip"),
            ("CALICO_IP", "127.0.1.7"),
            ("CALICO_NODENAME", "rr-x"),
        ],
    );
    // rr-x is no node of the example: a standalone reflector on IP, with the global AS.
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ip:               127.0.1.7") && out.contains("nodename:         rr-x"),
        "{out}"
    );
    let (code, out, err) = run(
        &["--check-config", "--file", &f, "--ip", "127.0.1.8"],
        &[("IP", "127.0.1.6"), ("CALICO_IP", "127.0.1.7")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ip:               127.0.1.8") && !out.contains("127.0.1.7"),
        "{out}"
    );
}

#[test]
fn bad_settings_stop_start_up_naming_them() {
    let f = example();
    for (args, env, name) in [
        (vec!["--file", f.as_str()], vec![("IP", "300.0.0.1")], "IP"),
        (vec!["--file", f.as_str()], vec![("CALICO_IP6", "zzz")], "IP6"),
        (vec![], vec![("DATASTORE_TYPE", "etcd2")], "DATASTORE_TYPE"),
        (vec![], vec![("DATASTORE_TYPE", "etcdv3")], "ETCD_ENDPOINTS"),
        (
            vec![],
            vec![("ETCD_ENDPOINTS", "127.0.0.1:2379")],
            "ETCD_ENDPOINTS",
        ),
        (
            vec!["--datastore", "kubernetes"],
            vec![("KUBECONFIG", "/nonexistent/kubeconfig")],
            "KUBECONFIG",
        ),
        (
            vec!["--datastore", "file", "--file", "/nonexistent/calico.yaml"],
            vec![],
            "--file",
        ),
        (
            vec!["--file", f.as_str(), "--shutdown-mode", "sometimes"],
            vec![],
            "--shutdown-mode",
        ),
        (
            vec!["--file", f.as_str(), "--listen-port", "99999"],
            vec![],
            "--listen-port",
        ),
        (
            vec!["--file", f.as_str(), "--batch-interval-ms", "5000"],
            vec![],
            "--batch-interval-ms",
        ),
    ] {
        let mut a = vec!["--check-config"];
        a.extend(args.iter().copied());
        let (code, out, err) = run(&a, &env);
        assert_eq!(code, 2, "{a:?} {env:?} must fail: {out}{err}");
        assert!(err.contains(name), "{a:?} {env:?}: {err:?} does not name {name}");
    }
}

#[test]
fn check_config_reads_the_datastore_and_prints_identity_and_peers_plainly() {
    let (code, out, err) = run(
        &["--check-config", "--datastore", "file", "--file", &example()],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "node:              rr1",
        "router id:         127.0.1.1",
        "cluster id:        244.0.0.1",
        "as:                64512",
        "peers:             2",
    ] {
        assert!(out.contains(want), "{want:?} missing: {out}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("node-a"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("127.0.1.2") && row.contains("rr-client"), "{row}");
    assert!(
        !out.contains("Some(") && !out.contains("File(") && !out.contains('{'),
        "no debug text: {out}"
    );

    // A garbage file and an invalid record: non-zero, naming the record.
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.yaml");
    std::fs::write(&garbage, "this: [is garbage\n").expect("write");
    let (code, out, err) = run(
        &[
            "--check-config",
            "--datastore",
            "file",
            "--file",
            garbage.to_str().expect("path"),
        ],
        &[("NODENAME", "rr1")],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("invalid datastore record") && err.contains("garbage.yaml#1"),
        "{err}"
    );
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(example())
        .expect("example")
        .replace("127.0.1.3/32", "banana");
    assert!(text.contains("banana"), "the example changed: update this test");
    std::fs::write(&bad, text).expect("write");
    let (code, _, err) = run(
        &[
            "--check-config",
            "--datastore",
            "file",
            "--file",
            bad.to_str().expect("path"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("banana"), "{err}");
}
