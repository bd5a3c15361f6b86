//! One scope (issue 16): `auth::Scope` (src/auth/model.rs) is the only thing that decides who sees what and the
//! only thing that renders visibility predicates into SQL. This test reads every source file under `src/`
//! outside `src/auth` and fails on any line that writes a visibility predicate by hand: an owner or team
//! comparison on leads, loans, opportunities, rollup rows or users, or a Rust check on `managed_team_ids`.
//!
//! Two things pass: the canonical bound forms documented on `Scope::binds`, `Scope::queue_binds` and
//! `Scope::roster_binds` (kept so compile-checked queries stay compile-checked; a file that uses one must take
//! its values from the matching method), and the lines in [`ALLOWED`], each with the reason it is not about
//! visibility (assignment itself, a filter inside an already scoped query, routing targets, editing who manages
//! which team). Anything else is a rival to the one scope: render it with a `Scope::push_*_predicate` or ask
//! `Scope`/`CurrentUser` (`allows_lead`, `allows_loan`, `manages_team_of`, `metrics_scope`).

use std::path::{Path, PathBuf};

/// Text that marks a visibility decision when it is not the canonical form.
const MARKERS: &[&str] = &[
    "assigned_lo_id = ",
    "team_id = ANY(",
    "OR id = ANY(",
    "OR lo_id",
    ".lo_id = $",
    "OR u.id = $",
    "managed_team_ids",
];

/// The canonical bound forms (parameter numbers written `$`), with the `Scope` method their values must come
/// from in the same file.
const CANONICAL: &[(&str, &str)] = &[
    (
        "($ OR l.assigned_lo_id = $ OR l.team_id = ANY($) OR ($ AND l.assigned_lo_id IS NULL AND l.team_id IS NULL))",
        ".binds()",
    ),
    ("($ OR l.team_id = ANY($) OR ($ AND l.team_id IS NULL))", ".queue_binds()"),
    ("($ OR u.id = $ OR u.team_id = ANY($))", ".roster_binds()"),
    ("teams WHERE $ OR id = ANY($)", ".roster_binds()"),
];

/// (file, text on the line, why it is not a visibility predicate).
const ALLOWED: &[(&str, &str, &str)] = &[
    // Assignment itself.
    (
        "src/leads/lifecycle.rs",
        "UPDATE leads l SET assigned_lo_id = ",
        "writes assignments (the one place: assign_many, assign_each)",
    ),
    ("src/routing/reassign.rs", "WHERE l.assigned_lo_id = $ AND s.kind IN", "hand-over: the leaving LO's open leads"),
    ("src/accounts/store.rs", "WHERE l.assigned_lo_id = $ AND s.kind = 'open'", "deactivation: an LO's open leads"),
    ("src/routing/store.rs", "l.assigned_lo_id = a.to_lo_id", "routing performance: leads won by their assignee"),
    ("src/routing/store.rs", "WHERE l.assigned_lo_id = u.id AND l.stage = 'new'", "board: counts per listed LO"),
    ("src/devtools/bench.rs", "WHERE l.assigned_lo_id = u.id", "bench setup picks the busiest LO"),
    ("src/demo/living.rs", "WHERE assigned_lo_id = $ AND stage IN", "demo setup picks a lead of each LO's own"),
    // Filters inside a query that already composes `push_lead_predicate`.
    ("src/leads/store/", r#"qb.push(" AND l.assigned_lo_id = ANY(")"#, "the `lo=` filter of the lead list"),
    ("src/leads/store/", r#"qb.push(" AND a.assigned_lo_id = ANY(")"#, "`lo=` with cohort=assigned"),
    ("src/leads/store/", r#"qb.push(" AND x.assigned_lo_id = ANY(")"#, "`lo=` with cohort=lost"),
    (
        "src/routing/handlers/reassign_pages.rs",
        r#"qb.push(" AND l.assigned_lo_id = ").push_bind(id)"#,
        "the LO filter of bulk lists",
    ),
    // The signed-in LO's own work lists (My day): the owner is the caller by definition.
    ("src/leads/store/", "FROM leads l WHERE l.assigned_lo_id = $ AND l.stage = 'new'", "My day: my new leads"),
    ("src/leads/store/", "WHERE l.assigned_lo_id = $ AND s.kind = 'open' AND s.stale_after_days", "My day: stale"),
    // Routing targets, not visibility.
    ("src/routing/store.rs", "OR u.team_id = ANY($) OR u.id = ANY($)", "the LOs a routing rule targets"),
    (
        "src/escalations/store/",
        "WHERE c.lo_id = $ ORDER BY c.created_at DESC",
        "one LO's coaching reviews, after `manages_team_of`",
    ),
    ("src/escalations/store/", "AND ($::uuid IS NULL OR u.id = $)", "the optional one-LO filter inside the roster"),
    // Decision authority over escalations, bound from `Scope::team_ids`.
    ("src/escalations/store/", "AND (l.team_id = ANY($) OR ($ AND ($ OR e.current_level", "approval authority"),
    // Who manages which team is account data, edited by admins.
    ("src/accounts/", "managed_team_ids", "account data: the team_managers rows"),
    ("src/accounts/store.rs", "team_id = ANY($)", "editing team_managers rows"),
    ("src/leads/history_import.rs", "managed_team_ids: Vec::new()", "the import's system actor manages no team"),
    ("src/escalations/model/tests.rs", "managed_team_ids: teams,", "unit-test fixture building a CurrentUser"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `$12` → `$`, so canonical forms match whatever parameter numbers a query needs.
fn without_param_numbers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        }
    }
    out
}

/// Every hand-written visibility predicate in `text` (the file at `rel`), as "file:line: text".
fn offences(rel: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut text = without_param_numbers(text);
    for (form, method) in CANONICAL {
        if text.contains(form) {
            if !text.contains(method) {
                found.push(format!("{rel}: uses the canonical form {form:?} without taking its values from {method}"));
            }
            text = text.replace(form, "<scope>");
        }
    }
    for (n, line) in text.lines().enumerate() {
        if !MARKERS.iter().any(|m| line.contains(m)) {
            continue;
        }
        let allowed = ALLOWED.iter().any(|(file, snippet, _)| rel.starts_with(file) && line.contains(snippet));
        if !allowed {
            found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn no_visibility_predicate_is_written_outside_auth() {
    // SCOPE_CHECK_ROOT points the check at another checkout (e.g. an older commit, to watch it fail there).
    let root =
        std::env::var("SCOPE_CHECK_ROOT").map(PathBuf::from).unwrap_or(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = root.as_path();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "found the sources");
    let mut found = Vec::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("src/auth/") {
            continue;
        }
        found.extend(offences(&rel, &std::fs::read_to_string(&path).unwrap()));
    }
    assert!(
        found.is_empty(),
        "visibility is decided and rendered only by auth::Scope (src/auth/model.rs); use its methods instead of:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_allowance_still_matches_something() {
    // A stale allowance would silently permit a future copy: each entry must match a line that exists today.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (rel, without_param_numbers(&std::fs::read_to_string(p).unwrap()))
        })
        .collect();
    for (file, snippet, why) in ALLOWED {
        assert!(
            texts.iter().any(|(rel, t)| rel.starts_with(file) && t.contains(snippet)),
            "allowance for {file} ({why}) matches nothing: remove it"
        );
    }
}

#[test]
fn the_rivals_this_replaced_would_be_caught() {
    // The shapes removed in issue 16, each as it was written before.
    let rivals = [
        ("src/portfolio/store.rs", "WHERE ($1 OR p.lo_id = $2 OR p.team_id = ANY($3)) AND p.loan_number > $4"),
        ("src/portfolio/store.rs", "WHERE ($1 OR o.lo_id = $2 OR o.team_id = ANY($3))"),
        ("src/metrics/store.rs", r#"qb.push(" OR lo_id = ").push_bind(lo);"#),
        ("src/metrics/store.rs", r#"qb.push(" OR u.team_id = ANY(").push_bind(scope.team_ids.clone()).push(")");"#),
        (
            "src/routing/handlers.rs",
            "if !user.is_admin() && !lo.team_id.is_some_and(|t| user.managed_team_ids.contains(&t)) {",
        ),
        ("src/escalations/store/mod.rs", "WHERE u.role = 'lo' AND u.active AND ($1 OR u.team_id = ANY($2))"),
        ("src/leads/store/", "SELECT id FROM leads l WHERE l.assigned_lo_id = $1 OR l.team_id = ANY($2)"),
    ];
    for (file, line) in rivals {
        assert!(!offences(file, line).is_empty(), "{file}: {line}");
    }
    // A canonical form is accepted only with the values from its Scope method.
    let canonical = "AND ($1 OR l.assigned_lo_id = $2 OR l.team_id = ANY($3) OR ($4 AND l.assigned_lo_id IS NULL AND l.team_id IS NULL))";
    assert!(offences("src/x.rs", &format!("let (a, b, c, d) = actor.scope().binds();\n{canonical}")).is_empty());
    assert!(!offences("src/x.rs", canonical).is_empty());
}
