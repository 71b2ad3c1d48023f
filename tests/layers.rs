//! The import graph of `src/` points down only (docs/architecture.md, "The layers"): every
//! `crate::` path in a module names a module of its own layer or one below, and no two
//! top-level modules import each other, directly or around a loop.
//!
//! Text, not the compiler: the paths are read from the source (`use crate::...`, inline
//! `crate::x::y`, `use crate::{a, b}`), code in `mod tests` blocks and comments left out.
//! `bench/imports.sh` prints the graph this test checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first; a module may import its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["main"],
    &["cli"],
    &["commands"],
    &["session"],
    &[
        "apply",
        "export",
        "diff",
        "graph",
        "route",
        "render",
        "asyncapi",
        "report",
        "saved_plan",
        "fmt",
    ],
    &["plan", "broker", "validate"],
    &["state"],
    &["topology"],
    &["source"],
    &["error", "exit", "output", "trace"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and `mod tests { ... }` blocks (rustfmt layout: the block
/// ends at the first `}` at the indentation of its `mod` line).
fn code_lines(text: &str) -> String {
    let mut out = String::new();
    let mut tests_indent: Option<String> = None;
    for line in text.lines() {
        if let Some(indent) = &tests_indent {
            if line.strip_prefix(indent.as_str()) == Some("}") {
                tests_indent = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("mod tests") && trimmed.ends_with('{') {
            tests_indent = Some(line[..line.len() - trimmed.len()].to_string());
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The top-level modules a file's code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `topo_crate::`, not a path of this crate
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, ...}`: the first segment of each item.
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `crate::diag` is `source::diag`, re-exported.
    if found.remove("diag") {
        found.insert("source".to_string());
    }
    found
}

/// Module -> the modules it imports, with the files that do.
fn graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_string();
        if module == "lib" {
            continue; // declares the modules; imports nothing
        }
        let text = std::fs::read_to_string(&path).expect("utf-8 source");
        let entry = graph.entry(module.clone()).or_default();
        for target in imports(&code_lines(&text)) {
            if target != module {
                entry
                    .entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

fn render(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> String {
    let mut out = String::new();
    for (from, targets) in graph {
        let names: Vec<&str> = targets.keys().map(String::as_str).collect();
        out.push_str(&format!("{from} -> {}\n", names.join(", ")));
    }
    out
}

#[test]
fn imports_point_down_only() {
    let graph = graph();
    let mut problems = Vec::new();
    for (from, targets) in &graph {
        let Some(own) = layer(from) else {
            problems.push(format!(
                "module `{from}` is in no layer of this test (add it)"
            ));
            continue;
        };
        for (to, files) in targets {
            match layer(to) {
                None => problems.push(format!("`{from}` imports `{to}`, which is in no layer")),
                Some(target) if target < own => problems.push(format!(
                    "`{from}` imports `{to}`, a layer above it ({})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nthe graph:\n{}",
        problems.join("\n"),
        render(&graph)
    );
    // For `bench/imports.sh` (with `--nocapture`): the graph this test passed.
    eprintln!("{}", render(&graph));
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = graph();
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[at..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flat_map(|t| t.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(module, &graph, &mut path, &mut done) {
            panic!(
                "import cycle: {}\n\nthe graph:\n{}",
                cycle.join(" -> "),
                render(&graph)
            );
        }
    }
}

#[test]
fn the_reader_sees_paths_and_skips_tests_and_comments() {
    let code = code_lines(
        "use crate::state::{A, B};\nuse crate::{plan, topology::model};\n// crate::cli\nfn f() { crate::error::redact(x); }\n#[cfg(test)]\nmod tests {\n    use crate::commands;\n}\n",
    );
    let found: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(found, ["error", "plan", "state", "topology"]);
}
