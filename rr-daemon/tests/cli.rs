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
    assert!(out.contains("127.0.1.1") && out.contains("\"rr1\""), "{out}");
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
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("127.0.1.7") && out.contains("rr-x"), "{out}");
    let (code, out, err) = run(
        &["--check-config", "--file", &f, "--ip", "127.0.1.8"],
        &[("IP", "127.0.1.6"), ("CALICO_IP", "127.0.1.7")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("127.0.1.8") && !out.contains("127.0.1.7"), "{out}");
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
    ] {
        let mut a = vec!["--check-config"];
        a.extend(args.iter().copied());
        let (code, out, err) = run(&a, &env);
        assert_eq!(code, 2, "{a:?} {env:?} must fail: {out}{err}");
        assert!(err.contains(name), "{a:?} {env:?}: {err:?} does not name {name}");
    }
}
