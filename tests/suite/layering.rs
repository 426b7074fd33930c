//! The layers' rules of docs/architecture.md, read from the source: HTTP renders what the
//! registry hands it and never names a store or cache type; the cache and everything below the
//! registry know nothing of the store; the domain imports nothing outside itself and its files
//! import each other without a loop. The compiler accepts any of these imports, so without this
//! check a shortcut through a lower layer would go unnoticed until someone had to undo it.
//!
//! A plain text scan of `use` lines and paths is enough: the rules are about names, and a
//! comment that mentions a path is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

/// The lines of `text` that are code, not comments, with their line numbers.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, line)| (i + 1, line.trim())).filter(|(_, line)| !line.starts_with("//"))
}

/// `file:line: text` of each code line under `dir` that mentions `path`.
fn mentions(dir: &Path, path: &str) -> Vec<String> {
    let root = source_root();
    let mut found = Vec::new();
    for (file, text) in sources(dir) {
        for (number, line) in code_lines(&text) {
            if line.contains(path) {
                let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
                found.push(format!("src/{shown}:{number}: {line}"));
            }
        }
    }
    found
}

#[test]
fn only_the_registry_startup_and_the_cli_reach_the_store() {
    let root = source_root();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root).expect("src") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if ["store", "registry", "cli", "startup.rs", "lib.rs", "main.rs"].contains(&name.as_str()) {
            continue;
        }
        if path.is_dir() {
            found.extend(mentions(&path, "crate::store"));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (number, line) in code_lines(&text) {
                if line.contains("crate::store") {
                    found.push(format!("src/{name}:{number}: {line}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "store types used outside registry, startup and cli:\n{}", found.join("\n"));
}

#[test]
fn http_sees_no_cache_entries() {
    let found = mentions(&source_root().join("http"), "crate::cache");
    assert!(found.is_empty(), "HTTP names cache types (the registry should hand them over):\n{}", found.join("\n"));
}

/// The cache is a layer below the registry: it keeps what the registry hands it and learns
/// nothing of the service above, so a cache change never reaches a verdict by a side door.
#[test]
fn the_cache_reaches_nothing_above_it() {
    let dir = source_root().join("cache");
    let mut found = Vec::new();
    for above in ["crate::registry", "crate::http", "crate::startup", "crate::cli"] {
        found.extend(mentions(&dir, above));
    }
    assert!(found.is_empty(), "the cache names a layer above it:\n{}", found.join("\n"));
}

/// The non-test part of a source file: everything before its `#[cfg(test)]` module.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .or_else(|| text.find("#[cfg(test)]\npub(crate) mod tests"))
        .map_or(text, |at| &text[..at])
}

#[test]
fn the_domain_imports_nothing_from_outside_and_its_files_form_no_loop() {
    let dir = source_root().join("domain");
    let files = sources(&dir);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(path, _)| path.file_stem()?.to_str().map(str::to_string))
        .filter(|name| name != "mod")
        .collect();
    let mut outside = Vec::new();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let Some(module) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        for (number, line) in code_lines(without_tests(text)) {
            if let Some(at) = line.find("crate::") {
                if !line[at..].starts_with("crate::domain") {
                    outside.push(format!("src/domain/{module}.rs:{number}: {line}"));
                }
            }
            if module == "mod" {
                continue;
            }
            for prefix in ["super::", "crate::domain::"] {
                for (at, _) in line.match_indices(prefix) {
                    let rest = &line[at + prefix.len()..];
                    let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if modules.contains(&name) && name != module {
                        imports.entry(module.to_string()).or_default().insert(name);
                    }
                }
            }
        }
    }
    assert!(outside.is_empty(), "the domain imports from other layers:\n{}", outside.join("\n"));
    assert!(!imports.is_empty(), "no imports between domain files were found: the scan is broken");

    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        module: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in imports.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, imports, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        if let Some(cycle) = visit(module, &imports, &mut Vec::new(), &mut done) {
            panic!("domain files import each other in a loop: {}", cycle.join(" -> "));
        }
    }
}
