//! The shape of the code: dependencies between top-level modules run one way only.
//!
//! Reads every file under `src/`, takes each `crate::<module>` path outside comments as an
//! import of that top-level module, and checks three rules:
//! - no two top-level modules import each other, directly or through others (no cycle);
//! - the foundations and the plumbing import no bounded context;
//! - nothing imports the application (`app`) or the demo, which sit on top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules below every bounded context: they may import only each other.
const FOUNDATIONS: [&str; 8] = [
    "config",
    "crypto",
    "db",
    "telemetry",
    "money",
    "ids",
    "fhir",
    "http",
];
/// Modules nothing else may import.
const TOP: [&str; 2] = ["app", "demo"];

type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// module → (imported module → first place it is imported, `file:line`).
fn import_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let imports = graph.entry(module.clone()).or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    imports
                        .entry(name)
                        .or_insert_with(|| format!("src/{}:{}", rel.display(), n + 1));
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one, as the list of modules on it.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &Graph,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(graph, start, start, &mut path, &mut seen).then_some(path)
}

fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut lines = Vec::new();
    for (i, from) in cycle.iter().enumerate() {
        let to = &cycle[(i + 1) % cycle.len()];
        lines.push(format!("  {from} -> {to} ({})", graph[from][to]));
    }
    lines.join("\n")
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = import_graph();
    assert!(
        graph.len() > 15,
        "expected the whole src tree, read {graph:?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| describe(&graph, &c))
        .collect();
    assert!(
        cycles.is_empty(),
        "top-level modules import each other in a circle:\n{}",
        cycles.join("\n\n")
    );
}

#[test]
fn foundations_and_plumbing_import_no_context() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for module in FOUNDATIONS {
        for (to, at) in graph.get(module).into_iter().flatten() {
            if !FOUNDATIONS.contains(&to.as_str()) {
                wrong.push(format!("  {module} -> {to} ({at})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "plumbing must not import a bounded context:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn nothing_imports_the_application() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        for top in TOP {
            if let Some(at) = imports.get(top)
                && !(module == "app" && top == "demo")
            {
                wrong.push(format!("  {module} -> {top} ({at})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "only main.rs may import the application and the demo:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.into())
            .or_default()
            .insert(to.into(), format!("src/{from}.rs:1"));
    }
    let cycle = cycle_from(&graph, "a").expect("a cycle");
    assert_eq!(cycle, ["a", "b", "c"]);
    assert!(cycle_from(&graph, "d").is_none());
}
