//! The layers, as Cargo sees them (`cargo metadata`): each crate depends only on the layers
//! below it, and the shells (the CLI and the desktop app) reach jobs through
//! `tickstock-jobs` alone, never the bus (`tickstock-queue`) or the store
//! (`tickstock-data`) directly. A new arrow that points up or skips into the shells fails
//! here, so the layering cannot erode silently.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on (normal and build
/// dependencies; tests and benches may use any).
const ALLOWED: &[(&str, &[&str])] = &[
    ("tickstock-protocol", &[]),
    ("tickstock-data", &["tickstock-protocol"]),
    ("tickstock-queue", &["tickstock-protocol", "tickstock-data"]),
    (
        "tickstock-jobs",
        &["tickstock-protocol", "tickstock-data", "tickstock-queue"],
    ),
    ("tickstock-cli", &["tickstock-protocol", "tickstock-jobs"]),
    ("tickstock-app", &["tickstock-protocol", "tickstock-jobs"]),
];

/// Crates that do I/O, which the protocol layer (pure data) must not depend on, except as
/// an optional feature.
const IO_CRATES: &[&str] = &["tokio", "sqlx", "reqwest", "redis", "axum", "tauri"];

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Per package: (name of a dependency, its kind, whether it is optional).
fn dependencies(meta: &Value) -> BTreeMap<String, Vec<(String, Option<String>, bool)>> {
    let mut out = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or_default().to_string(),
                    d["kind"].as_str().map(str::to_string),
                    d["optional"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        out.insert(p["name"].as_str().expect("name").to_string(), deps);
    }
    out
}

#[test]
fn every_crate_depends_only_on_the_layers_below_it_and_the_shells_only_on_jobs() {
    let deps = dependencies(&metadata());
    let workspace: BTreeSet<&str> = deps.keys().map(String::as_str).collect();
    let mut wrong = Vec::new();
    for (name, allowed) in ALLOWED {
        let Some(list) = deps.get(*name) else {
            panic!("{name} is not in the workspace (renamed? update ALLOWED)");
        };
        for (dep, kind, _) in list {
            let runtime = kind.as_deref() != Some("dev");
            if runtime && workspace.contains(dep.as_str()) && !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "arrows that break the layers: {wrong:?}");
    // Every workspace crate with runtime code is placed in a layer (a new crate must be).
    for name in &workspace {
        let placed = ALLOWED.iter().any(|(n, _)| n == name);
        let support = ["tickstock-testkit", "tickstock-tests"].contains(name);
        assert!(placed || support, "{name} has no place in ALLOWED");
    }
}

#[test]
fn the_protocol_layer_is_pure_data() {
    let deps = dependencies(&metadata());
    let protocol = &deps["tickstock-protocol"];
    let io: Vec<&String> = protocol
        .iter()
        .filter(|(d, kind, optional)| {
            kind.as_deref() != Some("dev") && !optional && IO_CRATES.contains(&d.as_str())
        })
        .map(|(d, _, _)| d)
        .collect();
    assert!(
        io.is_empty(),
        "tickstock-protocol depends on I/O crates: {io:?}"
    );
}

/// The top-level modules of one crate's `src` and the modules each names through
/// `crate::…` outside comments and tests.
fn module_graph(src: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("inside src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("file name")
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read file");
        let production = text.split("#[cfg(test)]").next().unwrap_or_default();
        let deps = graph.entry(top.clone()).or_default();
        for line in production.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                if i > 0 && code[..i].ends_with('$') {
                    continue;
                }
                let name: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !name.is_empty() && name != top {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// A module that reaches itself again through `crate::` paths, if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for src in [
        "crates/protocol/src",
        "crates/data/src",
        "crates/queue/src",
        "crates/jobs/src",
        "crates/cli/src",
        "src-tauri/src",
    ] {
        let graph = module_graph(&root.join(src));
        assert!(graph.len() > 3, "{src}: modules found: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{src}: an import circle: {}", cycle.join(" -> "));
        }
    }
}
