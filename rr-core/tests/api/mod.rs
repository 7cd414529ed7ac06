//! A public-API lister: builds the crate's rustdoc JSON (`RUSTC_BOOTSTRAP=1 cargo rustdoc -- -Z
//! unstable-options --output-format json`, the stable toolchain's own rustdoc) and prints one line
//! per public item, field, variant, method and trait implementation, with function signatures.
//! Shared by the public-API snapshot tests of rr-core and bgp-wire.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The rustdoc JSON format this lister understands (rustdoc-types `FORMAT_VERSION`).
const FORMAT_VERSIONS: std::ops::RangeInclusive<u64> = 50..=60;

/// Builds `package`'s rustdoc JSON and returns its public items, sorted, one per line.
pub fn public_api(package: &str, lib_name: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // A target directory of its own (under the workspace's): a nested cargo writing into the
    // target directory of the `cargo test` that runs this test broke the doc tests run after it.
    let target = target_dir(&cargo, &manifest_dir).join("public-api");
    let out = Command::new(&cargo)
        .current_dir(&manifest_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["rustdoc", "-q", "-p", package, "--lib", "--target-dir"])
        .arg(&target)
        .args(["--", "-Z", "unstable-options"])
        .args(["--output-format", "json"])
        .output()
        .expect("run cargo rustdoc");
    assert!(
        out.status.success(),
        "cargo rustdoc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = target.join("doc").join(format!("{lib_name}.json"));
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    let doc: Value = serde_json::from_str(&text).expect("rustdoc JSON");
    let version = doc["format_version"].as_u64().unwrap_or(0);
    assert!(
        FORMAT_VERSIONS.contains(&version),
        "rustdoc JSON format {version} is new to this lister (knows {FORMAT_VERSIONS:?}): check its output"
    );
    let mut lines = BTreeSet::new();
    let root = doc["root"].to_string();
    Lister {
        doc: &doc,
        lines: &mut lines,
    }
    .item(&root, lib_name);
    let mut s = lines.into_iter().collect::<Vec<_>>().join("\n");
    s.push('\n');
    s
}

/// Compares `actual` with the checked-in `file`, or writes it when `RR_BLESS_PUBLIC_API` is set.
pub fn check_snapshot(file: &Path, actual: &str) {
    if std::env::var_os("RR_BLESS_PUBLIC_API").is_some() {
        std::fs::write(file, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(file).unwrap_or_default();
    if expected != actual {
        let exp: BTreeSet<&str> = expected.lines().collect();
        let act: BTreeSet<&str> = actual.lines().collect();
        let mut diff = String::new();
        for l in exp.difference(&act) {
            diff.push_str(&format!("- {l}\n"));
        }
        for l in act.difference(&exp) {
            diff.push_str(&format!("+ {l}\n"));
        }
        panic!(
            "the public API differs from {} (rerun with RR_BLESS_PUBLIC_API=1 to accept):\n{diff}",
            file.display()
        );
    }
}

fn target_dir(cargo: &str, dir: &Path) -> PathBuf {
    let out = Command::new(cargo)
        .current_dir(dir)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .expect("run cargo metadata");
    let v: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    PathBuf::from(v["target_directory"].as_str().expect("target_directory"))
}

struct Lister<'a> {
    doc: &'a Value,
    lines: &'a mut BTreeSet<String>,
}

impl Lister<'_> {
    fn get(&self, id: &str) -> Option<&Value> {
        self.doc["index"].get(id)
    }

    /// Lists item `id`, reachable at `path`.
    fn item(&mut self, id: &str, path: &str) {
        let Some(item) = self.get(id).cloned() else { return };
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        match kind.as_str() {
            "module" => {
                if path.contains("::") {
                    self.lines.insert(format!("mod {path}"));
                }
                for child in inner["items"].as_array().into_iter().flatten() {
                    let cid = child.to_string();
                    let name = self.get(&cid).and_then(|c| c["name"].as_str()).unwrap_or("");
                    self.item(&cid, &format!("{path}::{name}"));
                }
            }
            "use" => {
                let name = inner["name"].as_str().unwrap_or("?");
                let parent = path.rsplit_once("::").map_or(path, |(p, _)| p);
                let here = format!("{parent}::{name}");
                match inner["id"].as_u64().map(|i| i.to_string()) {
                    Some(t) if self.get(&t).is_some_and(|t| t["crate_id"] == 0) => self.item(&t, &here),
                    Some(t) if self.doc["paths"][&t]["path"].is_array() => {
                        let p = &self.doc["paths"][&t]["path"];
                        let source: Vec<&str> = p
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        self.lines
                            .insert(format!("pub use {here} = {}", source.join("::")));
                    }
                    _ => {
                        let source = inner["source"].as_str().unwrap_or("?");
                        self.lines.insert(format!("pub use {here} = {source}"));
                    }
                }
            }
            "struct" => {
                self.lines.insert(format!("struct {path}"));
                let k = &inner["kind"];
                for f in k["plain"]["fields"].as_array().into_iter().flatten() {
                    self.field(&f.to_string(), path);
                }
                for (i, f) in k["tuple"].as_array().into_iter().flatten().enumerate() {
                    if !f.is_null() {
                        let ty = self.get(&f.to_string()).map(|f| ty(&f["inner"]["struct_field"]));
                        self.lines
                            .insert(format!("field {path}.{i}: {}", ty.unwrap_or_default()));
                    }
                }
                self.impls(inner, path);
            }
            "enum" => {
                self.lines.insert(format!("enum {path}"));
                for v in inner["variants"].as_array().into_iter().flatten() {
                    let vid = v.to_string();
                    let Some(var) = self.get(&vid).cloned() else {
                        continue;
                    };
                    let vpath = format!("{path}::{}", var["name"].as_str().unwrap_or("?"));
                    let vk = &var["inner"]["variant"]["kind"];
                    let tuple: Vec<String> = vk["tuple"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| {
                            self.get(&f.to_string())
                                .map_or("_".into(), |f| ty(&f["inner"]["struct_field"]))
                        })
                        .collect();
                    if tuple.is_empty() {
                        self.lines.insert(format!("variant {vpath}"));
                    } else {
                        self.lines
                            .insert(format!("variant {vpath}({})", tuple.join(", ")));
                    }
                    for f in vk["struct"]["fields"].as_array().into_iter().flatten() {
                        self.field(&f.to_string(), &vpath);
                    }
                }
                self.impls(inner, path);
            }
            "function" => {
                self.lines.insert(format!("fn {path}{}", sig(&inner["sig"])));
            }
            "constant" => {
                self.lines.insert(format!("const {path}: {}", ty(&inner["type"])));
            }
            "static" => {
                self.lines
                    .insert(format!("static {path}: {}", ty(&inner["type"])));
            }
            "type_alias" => {
                self.lines.insert(format!("type {path} = {}", ty(&inner["type"])));
            }
            "trait" => {
                self.lines.insert(format!("trait {path}"));
                for i in inner["items"].as_array().into_iter().flatten() {
                    self.assoc(&i.to_string(), path);
                }
            }
            other => {
                self.lines.insert(format!("{other} {path}"));
            }
        }
    }

    fn field(&mut self, id: &str, parent: &str) {
        let Some(f) = self.get(id) else { return };
        if f["visibility"] != "public" && f["visibility"] != "default" {
            return;
        }
        let line = format!(
            "field {parent}.{}: {}",
            f["name"].as_str().unwrap_or("?"),
            ty(&f["inner"]["struct_field"])
        );
        self.lines.insert(line);
    }

    fn impls(&mut self, inner: &Value, path: &str) {
        for i in inner["impls"].as_array().into_iter().flatten() {
            let Some(imp) = self.get(&i.to_string()).cloned() else {
                continue;
            };
            let imp = &imp["inner"]["impl"];
            if imp["is_synthetic"] == true || !imp["blanket_impl"].is_null() {
                continue;
            }
            if imp["trait"].is_null() {
                for m in imp["items"].as_array().into_iter().flatten() {
                    let vis = self.get(&m.to_string()).map(|m| m["visibility"].clone());
                    if vis.is_some_and(|v| v == "public") {
                        self.assoc(&m.to_string(), path);
                    }
                }
            } else {
                let t = &imp["trait"];
                let name = t["path"].as_str().or(t["name"].as_str()).unwrap_or("?");
                self.lines
                    .insert(format!("impl {name}{} for {path}", args(&t["args"])));
            }
        }
    }

    fn assoc(&mut self, id: &str, parent: &str) {
        let Some(m) = self.get(id).cloned() else { return };
        let name = m["name"].as_str().unwrap_or("?");
        let Some((kind, inner)) = m["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let line = match kind.as_str() {
            "function" => format!("fn {parent}::{name}{}", sig(&inner["sig"])),
            "assoc_const" => format!("const {parent}::{name}: {}", ty(&inner["type"])),
            "constant" => format!("const {parent}::{name}: {}", ty(&inner["type"])),
            "assoc_type" => format!("type {parent}::{name}"),
            other => format!("{other} {parent}::{name}"),
        };
        self.lines.insert(line);
    }
}

fn sig(s: &Value) -> String {
    let inputs: Vec<String> = s["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p[0].as_str().unwrap_or("_");
            let t = ty(&p[1]);
            match (name, t.as_str()) {
                ("self", "Self") => "self".into(),
                ("self", "&Self") => "&self".into(),
                ("self", "&mut Self") => "&mut self".into(),
                _ => format!("{name}: {t}"),
            }
        })
        .collect();
    let out = if s["output"].is_null() {
        String::new()
    } else {
        format!(" -> {}", ty(&s["output"]))
    };
    format!("({}){out}", inputs.join(", "))
}

fn args(a: &Value) -> String {
    let Some(list) = a["angle_bracketed"]["args"].as_array() else {
        return String::new();
    };
    let mut parts: Vec<String> = list
        .iter()
        .map(|g| {
            if !g["type"].is_null() {
                ty(&g["type"])
            } else if let Some(l) = g["lifetime"].as_str() {
                l.to_string()
            } else {
                "_".into()
            }
        })
        .collect();
    for c in a["angle_bracketed"]["constraints"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = c["name"].as_str().unwrap_or("?");
        let eq = &c["binding"]["equality"]["type"];
        if !eq.is_null() {
            parts.push(format!("{name} = {}", ty(eq)));
        } else {
            parts.push(format!("{name}: {}", bounds(&c["binding"]["constraint"])));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("<{}>", parts.join(", "))
    }
}

fn bounds(b: &Value) -> String {
    b.as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let t = &b["trait_bound"]["trait"];
            if t.is_null() {
                b["outlives"].as_str().unwrap_or("_").to_string()
            } else {
                format!(
                    "{}{}",
                    t["path"].as_str().or(t["name"].as_str()).unwrap_or("?"),
                    args(&t["args"])
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Renders a rustdoc JSON type.
fn ty(t: &Value) -> String {
    let Some((kind, v)) = t.as_object().and_then(|o| o.iter().next()) else {
        return "_".into();
    };
    match kind.as_str() {
        "primitive" | "generic" => v.as_str().unwrap_or("_").to_string(),
        // The last segment: how the source spells the path (`crate::types::FamilySet`, `FamilySet`)
        // is no part of the API.
        "resolved_path" => {
            let p = v["path"].as_str().or(v["name"].as_str()).unwrap_or("?");
            format!("{}{}", p.rsplit("::").next().unwrap_or(p), args(&v["args"]))
        }
        "borrowed_ref" => {
            let lt = v["lifetime"].as_str().map_or(String::new(), |l| format!("{l} "));
            let m = if v["is_mutable"] == true { "mut " } else { "" };
            format!("&{lt}{m}{}", ty(&v["type"]))
        }
        "tuple" => {
            let parts: Vec<String> = v.as_array().into_iter().flatten().map(ty).collect();
            format!("({})", parts.join(", "))
        }
        "slice" => format!("[{}]", ty(v)),
        "array" => format!("[{}; {}]", ty(&v["type"]), v["len"].as_str().unwrap_or("_")),
        "impl_trait" => format!("impl {}", bounds(v)),
        "dyn_trait" => {
            let traits: Vec<String> = v["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let t = &p["trait"];
                    format!(
                        "{}{}",
                        t["path"].as_str().or(t["name"].as_str()).unwrap_or("?"),
                        args(&t["args"])
                    )
                })
                .collect();
            format!("dyn {}", traits.join(" + "))
        }
        "raw_pointer" => {
            let m = if v["is_mutable"] == true { "mut" } else { "const" };
            format!("*{m} {}", ty(&v["type"]))
        }
        "qualified_path" => format!("<{}>::{}", ty(&v["self_type"]), v["name"].as_str().unwrap_or("?")),
        "function_pointer" => format!("fn{}", sig(&v["sig"])),
        other => other.to_string(),
    }
}
