//! The README's quick start, verbatim: rr-daemon on `examples/calico.yaml` (no node name given: it finds
//! itself) and two BIRDs on `examples/bird-client.conf` (node-b by the substitutions the file documents).
//! Uses the example's fixed port 1790 on 127.0.1.x.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::rr::Rr;
use common::{ChildGuard, require, wait_for};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn birdc(sock: &std::path::Path, cmd: &str) -> String {
    let o = Command::new("birdc")
        .arg("-s")
        .arg(sock)
        .args(cmd.split_whitespace())
        .output()
        .expect("birdc");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn readme_example_reflects_between_two_birds() {
    require(&["bird"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("calico.yaml");
    std::fs::copy(repo().join("examples/calico.yaml"), &yaml).expect("copy example");
    let rr = Rr::start_with_file("", dir, yaml, &[]);

    let conf_a = std::fs::read_to_string(repo().join("examples/bird-client.conf")).expect("bird example");
    let conf_b = conf_a
        .replace("127.0.1.2", "127.0.1.3")
        .replace("10.2.0.0/26", "10.3.0.0/26")
        .replace("fd00:2::", "fd00:3::")
        .replace("100.64.0.2", "100.64.0.3")
        .replace("fd00:64::2", "fd00:64::3");
    let bdir = tempfile::tempdir().expect("tempdir");
    let mut guards = Vec::new();
    let mut socks = Vec::new();
    for (name, conf) in [("node-a", conf_a), ("node-b", conf_b)] {
        let cfg = bdir.path().join(format!("{name}.conf"));
        let sock = bdir.path().join(format!("{name}.ctl"));
        std::fs::write(&cfg, conf).expect("write");
        let child = Command::new("bird")
            .arg("-c")
            .arg(&cfg)
            .arg("-s")
            .arg(&sock)
            .arg("-f")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bird");
        guards.push(ChildGuard::new(name, child));
        socks.push(sock);
    }
    // The control socket answers before the first datastore load has been applied (status says
    // `"node": ""` until then): wait for the node the daemon picked, then check it is rr1.
    let mut status = serde_json::Value::Null;
    wait_for("the daemon picks its node", Duration::from_secs(30), || {
        status = rr.get("/status");
        if status["node"] != "" {
            Ok(())
        } else {
            Err(format!("{status}"))
        }
    });
    assert_eq!(
        status["node"], "rr1",
        "the daemon found its node without NODENAME: {status}"
    );
    wait_for(
        "node-a sees node-b's routes reflected",
        Duration::from_secs(30),
        || {
            let out = birdc(&socks[0], "show route all");
            let ok = out.contains("10.3.0.0/26")
                && out.contains("fd00:3::/122")
                && out.contains("BGP.originator_id: 127.0.1.3")
                && out.contains("BGP.cluster_list: 244.0.0.1");
            if ok {
                Ok(())
            } else {
                Err(format!("{out}\nrr log: {}", rr.log()))
            }
        },
    );
    wait_for(
        "node-b sees node-a's routes reflected",
        Duration::from_secs(30),
        || {
            let out = birdc(&socks[1], "show route all");
            if out.contains("10.2.0.0/26") && out.contains("BGP.originator_id: 127.0.1.2") {
                Ok(())
            } else {
                Err(out)
            }
        },
    );
}
