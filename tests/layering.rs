//! The layering rule (DESIGN.md, "Shared API layer"): a face (`src/outbound`, `src/inbound`, `src/timers`,
//! `src/bots`, `src/dashboard`, `src/mcp`) depends on the engine, the store, `crate::api` and the crate-root utilities —
//! never on another face, and never on the server assembly. This reads the faces' sources and names every line
//! that breaks it.

use std::path::{Path, PathBuf};

const FACES: &[&str] = &["outbound", "inbound", "timers", "bots", "dashboard", "mcp"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module names after each `crate::` in `text`, with the byte offset of each; a group
/// (`crate::{a, b::c}`) yields each of its members.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let ident = |s: &str| s.trim().split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_string();
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `foo_crate::…`
        }
        let rest = &text[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push((at, ident(rest)));
            continue;
        };
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    out.push((at, ident(&group[start..i])));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push((at, ident(&group[start..i])));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn faces_depend_on_neither_each_other_nor_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offences = Vec::new();
    for face in FACES {
        let mut files = Vec::new();
        sources(&root.join("src").join(face), &mut files);
        assert!(!files.is_empty(), "no sources under src/{face}");
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            for (at, module) in crate_paths(&text) {
                let other_face = FACES.contains(&module.as_str()) && module != *face;
                if module == "server" || other_face {
                    let line = text[..at].matches('\n').count() + 1;
                    let shown = file.strip_prefix(root).unwrap_or(&file).display();
                    offences.push(format!("{shown}:{line}: the {face} face uses crate::{module}"));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "faces must reach shared pieces through crate::api, not through another face or crate::server:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scanner_sees_plain_and_grouped_paths() {
    let found = |s: &str| crate_paths(s).into_iter().map(|(_, m)| m).collect::<Vec<_>>();
    assert_eq!(found("use crate::server::ApiContext;"), ["server"]);
    assert_eq!(found("use crate::{api::{page, ts}, outbound};"), ["api", "outbound"]);
    assert_eq!(found("use crate::{\n    bots,\n    store::Page,\n};"), ["bots", "store", ""]);
    assert!(found("use other_crate::server;").is_empty());
}
