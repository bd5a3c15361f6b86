//! Imports run downward only (issue 16; CONVENTIONS.md "Layers"). Every `use crate::…` and `crate::…::` path
//! in `src/` is read (comments and string literals skipped), each file is placed in a layer, and an import that
//! runs upward, or sideways between two capabilities, fails this test unless `KNOWN_VIOLATIONS` lists it. A
//! listed violation that no longer exists fails it too, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One layer of the house, lowest first. A file may import its own component and any lower layer; within a
/// layer, components may import each other only when `sideways` is true.
struct Layer {
    name: &'static str,
    components: &'static [&'static str],
    sideways: bool,
}

/// The rules, written once. A component is a top-level module of `src/` (`lib` is `lib.rs` and the items it
/// defines, such as `crate::state` and `crate::job_kinds`), or `developer_tools` (see below).
const LAYERS: &[Layer] = &[
    Layer {
        name: "foundation",
        components: &[
            "config", "error", "db", "state", "web", "jobs", "audit", "imports", "events", "secrets", "calendar",
        ],
        sideways: true,
    },
    Layer { name: "auth", components: &["auth"], sideways: false },
    Layer { name: "accounts", components: &["accounts"], sideways: false },
    Layer { name: "leads", components: &["leads"], sideways: false },
    // A rate lock is part of the loan record: escalations and webhooks import it, it imports only leads and below.
    Layer { name: "locks", components: &["locks"], sideways: false },
    // Departments (issue 26): escalations and loss mitigation forward to them without importing each other.
    Layer { name: "departments", components: &["departments"], sideways: false },
    Layer {
        name: "capabilities",
        components: &[
            "routing",
            "escalations",
            "lossmit",
            "portfolio",
            "webhooks",
            "notifications",
            "messages",
            "fair_lending",
            "loan_options",
        ],
        sideways: false,
    },
    Layer { name: "metrics", components: &["metrics"], sideways: false },
    Layer {
        name: "top",
        components: &["lib", "cli", "main", "home", "retention", "demo", "developer_tools"],
        sideways: true,
    },
];

/// Files (or folders, as paths under `src/` without `.rs`) that belong to the developer tools of the top layer
/// though they still sit inside a capability's folder: the seed generator and `loanfloor bench`.
const DEVELOPER_TOOLS: &[&str] = &["devtools"];

/// Imports that break the rules today: (file under `src/`, component it imports, why it is still there).
/// Remove a line when its import goes; never add one.
const KNOWN_VIOLATIONS: &[(&str, &str, &str)] = &[];

/// The component a file (path under `src/`, with `/`) or a module path (`a/b/c`) belongs to.
fn component(path: &str) -> String {
    let path = path.strip_suffix(".rs").unwrap_or(path);
    let path = path.strip_suffix("/mod").unwrap_or(path);
    if DEVELOPER_TOOLS.iter().any(|t| path == *t || path.starts_with(&format!("{t}/"))) {
        return "developer_tools".into();
    }
    path.split('/').next().unwrap_or_default().to_string()
}

/// The layer index of a component and whether it may import others of its layer.
fn layer_of(component: &str) -> Option<(usize, &'static Layer)> {
    LAYERS.iter().enumerate().find(|(_, l)| l.components.contains(&component))
}

/// The source with comments, string literals and char literals blanked out (lifetimes are kept).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let (mut out, mut i) = (String::with_capacity(src.len()), 0);
    // What a skipped comment or literal spanned, as its line breaks (so the output keeps the source's lines).
    let breaks = |from: usize, to: usize| "\n".repeat(src[from..to.min(src.len())].matches('\n').count());
    let word_before = |i: usize| i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            i = src[i..].find('\n').map_or(b.len(), |j| i + j);
        } else if b[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |j| i + 2 + j + 2);
            out.push(' ');
            out.push_str(&breaks(i, end));
            i = end;
        } else if (b[i] == b'r' || b[i..].starts_with(b"br")) && !word_before(i) && {
            let s = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|c| **c == b'#').count();
            b.get(s + hashes) == Some(&b'"')
        } {
            let s = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|c| **c == b'#').count();
            let end = format!("\"{}", "#".repeat(hashes));
            let from = s + hashes + 1;
            let to = src[from..].find(&end).map_or(b.len(), |j| from + j + end.len());
            out.push_str("\"\"");
            out.push_str(&breaks(i, to));
            i = to;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            out.push_str(&breaks(i, j));
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"'); otherwise a lifetime or label.
            let len = if b.get(i + 1) == Some(&b'\\') {
                src[i + 3..].find('\'').map(|j| j + 4).filter(|l| *l <= 12)
            } else {
                src[i + 1..]
                    .chars()
                    .next()
                    .filter(|c| src[i + 1 + c.len_utf8()..].starts_with('\''))
                    .map(|c| c.len_utf8() + 2)
            };
            match len {
                Some(l) => {
                    out.push_str("' '");
                    i += l;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = src[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let segments = |s: &str| -> Vec<String> {
        s.split("::").filter(|p| !p.is_empty() && *p != "self" && *p != "*").map(str::to_string).collect()
    };
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        path.extend(segments(tree));
        out.push(path);
        return;
    };
    let mut head = prefix.to_vec();
    head.extend(segments(&tree[..open]));
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&inner[start..k], &head, out);
                start = k + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand(&inner[start..], &head, out);
    }
}

/// A use tree without whitespace and without its renames (`X as Y` → `X`).
fn without_renames(tree: &str) -> String {
    let mut out = String::new();
    let mut words = tree.split_whitespace();
    while let Some(word) = words.next() {
        if word == "as" {
            let renamed = words.next().unwrap_or_default();
            out.push_str(renamed.trim_start_matches(is_ident));
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Every crate path a file names: `use crate::…` trees and `crate::a::b` paths in code.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(k) = rest.find("crate::") {
        let before = rest[..k].chars().next_back();
        let after = &rest[k + "crate::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            rest = after;
            continue;
        }
        let is_use = rest[..k].trim_end().ends_with("use");
        if is_use {
            let end = after.find(';').unwrap_or(after.len());
            expand(&without_renames(&after[..end]), &[], &mut out);
            rest = &after[end..];
        } else {
            let end = after.find(|c: char| !(is_ident(c) || c == ':')).unwrap_or(after.len());
            out.push(after[..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect());
            rest = &after[end..];
        }
    }
    out
}

/// The component a crate path points into: a module of `src/`, or an item of `lib.rs`.
fn target(src: &Path, path: &[String]) -> Option<String> {
    let first = path.first()?;
    if !src.join(format!("{first}.rs")).exists() && !src.join(first).is_dir() {
        return Some("lib".into());
    }
    Some(component(&path.join("/")))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file, imported component) → the first offending path, for every import that breaks the rules.
fn violations(src: &Path) -> BTreeMap<(String, String), String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let from = component(&rel);
        let (from_rank, from_layer) = layer_of(&from).unwrap_or_else(|| panic!("src/{rel}: {from} is in no layer"));
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for path in crate_paths(&code) {
            let Some(to) = target(src, &path) else { continue };
            let (to_rank, _) =
                layer_of(&to).unwrap_or_else(|| panic!("src/{rel}: crate::{} is in no layer", path.join("::")));
            let allowed = to == from || to_rank < from_rank || (to_rank == from_rank && from_layer.sideways);
            if !allowed {
                found.entry((rel.clone(), to)).or_insert_with(|| format!("crate::{}", path.join("::")));
            }
        }
    }
    found
}

#[test]
fn imports_run_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    let known: BTreeSet<(String, String)> =
        KNOWN_VIOLATIONS.iter().map(|(f, c, _)| (f.to_string(), c.to_string())).collect();
    assert_eq!(known.len(), KNOWN_VIOLATIONS.len(), "KNOWN_VIOLATIONS lists a pair twice");
    let layer = |c: &str| layer_of(c).map_or("?", |(_, l)| l.name);
    let new: Vec<String> = found
        .iter()
        .filter(|(k, _)| !known.contains(*k))
        .map(|((file, to), path)| {
            format!("src/{file} ({}) imports {path} ({}, layer {})", layer(&component(file)), to, layer(to))
        })
        .collect();
    let gone: Vec<String> =
        known.iter().filter(|k| !found.contains_key(*k)).map(|(f, c)| format!("src/{f} → {c}")).collect();
    assert!(
        new.is_empty(),
        "imports that run upward or sideways between capabilities (move the code down, or wire it from lib.rs):\n  {}",
        new.join("\n  ")
    );
    assert!(
        gone.is_empty(),
        "fixed violations still listed in KNOWN_VIOLATIONS — remove them:\n  {}",
        gone.join("\n  ")
    );
}

#[test]
fn the_scanner_reads_use_trees_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{config::Config, leads::{model, store::X as Y}};\n// crate::metrics::x\n/// see crate::routing\n\
         let s = \"crate::webhooks::emit\"; let r = r#\"crate::portfolio\"#; let c = '\"'; fn f<'a>(x: &'a str) {}\n\
         crate::notifications::notify(); Foo::<crate::auth::Role>::new(); super::crate_like::x();",
    );
    let paths: Vec<String> = crate_paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        ["config::Config", "leads::model", "leads::store::X", "notifications::notify", "auth::Role"],
        "{code}"
    );
    assert_eq!(component("devtools/seed/history.rs"), "developer_tools");
    assert_eq!(component("devtools/bench.rs"), "developer_tools");
    assert_eq!(component("leads/store.rs"), "leads");
}

/// Source files still over the size a person can hold (issue 16: no file over 800 lines), with their length
/// when the rule was written. Shrink-only: a file that gets under the limit must leave this list, and no file
/// may join it.
const KNOWN_LONG_FILES: &[(&str, usize)] = &[];

const MAX_FILE_LINES: usize = 800;

#[test]
fn no_source_file_grows_past_800_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        let known = KNOWN_LONG_FILES.iter().find(|(p, _)| *p == rel);
        match known {
            Some((_, was)) => {
                seen.push(rel.clone());
                if lines <= MAX_FILE_LINES {
                    problems.push(format!("{rel} is {lines} lines now: take it off KNOWN_LONG_FILES"));
                } else if lines > *was {
                    problems.push(format!("{rel} grew from {was} to {lines} lines: split it instead"));
                }
            }
            None if lines > MAX_FILE_LINES => {
                problems.push(format!("{rel} is {lines} lines (over {MAX_FILE_LINES}): split it by page group"))
            }
            None => {}
        }
    }
    for (p, _) in KNOWN_LONG_FILES {
        if !seen.iter().any(|s| s == p) {
            problems.push(format!("{p} no longer exists: take it off KNOWN_LONG_FILES"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Functions still over the size a person can read in one sitting (issue 16: no function over 120 lines,
/// long `match` tables excepted), with their length when the rule was written. Shrink-only, like the files.
const KNOWN_LONG_FUNCTIONS: &[(&str, &str, usize)] = &[];

const MAX_FUNCTION_LINES: usize = 120;

/// Long `match` tables, which the rule excepts: one arm per case, each arm a few lines, nothing to split out.
const MATCH_TABLES: &[(&str, &str, &str)] =
    &[("metrics/handlers.rs", "export", "one arm per dashboard table: its CSV header and rows")];

/// Every `fn` with a body in `code` (as [`code_only`] leaves it): its name and how many lines it spans, from
/// the line of `fn` to the line of its closing brace.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("fn ") {
        let start = at + found;
        at = start + 3;
        if start > 0 && is_ident(code[..start].chars().next_back().unwrap_or(' ')) {
            continue;
        }
        let name: String = code[at..].chars().take_while(|c| is_ident(*c)).collect();
        if name.is_empty() {
            continue;
        }
        // The body opens at the first `{` before any `;` (a declaration without a body has none).
        let Some(open) = code[at..].find(['{', ';']).map(|j| at + j).filter(|j| b[*j] == b'{') else { continue };
        let mut depth = 0usize;
        let mut close = open;
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let lines = code[start..=close].matches('\n').count() + 1;
        out.push((name, lines));
    }
    out
}

#[test]
fn no_function_grows_past_120_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (name, lines) in function_lengths(&code) {
            if MATCH_TABLES.iter().any(|(p, n, _)| *p == rel && *n == name) {
                continue;
            }
            match KNOWN_LONG_FUNCTIONS.iter().find(|(p, n, _)| *p == rel && *n == name) {
                Some((_, _, was)) => {
                    seen.push((rel.clone(), name.clone()));
                    if lines <= MAX_FUNCTION_LINES {
                        problems.push(format!("{rel}: {name} is {lines} lines now: take it off KNOWN_LONG_FUNCTIONS"));
                    } else if lines > *was {
                        problems.push(format!("{rel}: {name} grew from {was} to {lines} lines: split it instead"));
                    }
                }
                None if lines > MAX_FUNCTION_LINES => problems.push(format!(
                    "{rel}: {name} is {lines} lines (over {MAX_FUNCTION_LINES}): split the decision from the reads and writes"
                )),
                None => {}
            }
        }
    }
    for (p, n, _) in KNOWN_LONG_FUNCTIONS {
        if !seen.iter().any(|(sp, sn)| sp == p && sn == n) {
            problems.push(format!("{p}: {n} no longer exists: take it off KNOWN_LONG_FUNCTIONS"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_function_scanner_measures_bodies_not_signatures() {
    let code = code_only(
        "fn short() {\n    let s = \"}\";\n}\ntrait T { fn decl(&self); }\nfn long() {\n    if x {\n        y();\n    }\n    let q = r#\"\nSELECT\n{\n\"#;\n}\n",
    );
    assert_eq!(function_lengths(&code), [("short".to_string(), 3), ("long".to_string(), 9)]);
}

/// One word, one meaning (issue 16): `los` is the loan origination system, so no name in the code says `los`
/// (or ends in `_los`) for a list of loan officers; those are `officers`.
#[test]
fn los_means_the_loan_origination_system_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (n, line) in code.lines().enumerate() {
            let words = line.split(|c: char| !is_ident(c)).filter(|w| *w == "los" || w.ends_with("_los"));
            if words.count() > 0 {
                found.push(format!("{}:{}: {}", f.strip_prefix(&src).unwrap().display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "name loan officers `officers`, not `los`:\n{}", found.join("\n"));
}
