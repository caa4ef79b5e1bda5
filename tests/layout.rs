//! Every source file is named in its crate's layout.
//!
//! Unlike the rest of `tests/`, this does not drive the public API: it reads the
//! source tree, so that a new module cannot land without a line in its crate's
//! layout saying what it is for (a "Layout" section opening `lib.rs`, as
//! mini-redis opens its crate).
//!
//! # The rule
//!
//! For each crate of the workspace (`gort` itself, `runtime`, `alloc`, `gc`,
//! `gc/derive`), with paths relative to the crate's `src/` and `/` as the
//! separator:
//!
//! - every `*.rs` file other than `lib.rs` and `mod.rs` is named by its path in
//!   backticks: `` `stack.rs` ``, `` `proc/sched.rs` ``;
//! - every directory (a directory module; it stands for its `mod.rs`) is named by
//!   its path with a trailing slash, in backticks: `` `proc/` ``;
//! - a name counts only inside the layout section: the `//!` lines of `src/lib.rs`
//!   from a heading that starts with `# Layout` up to the next heading.
//!
//! The check runs one way: every file must be named, but a name need not have a
//! file, so a layout may already name a module that is on its way. A crate whose `src/` holds only `lib.rs` needs no layout.

use std::path::{Path, PathBuf};

/// The crates checked, as directories relative to the workspace root.
const CRATES: [&str; 5] = [".", "runtime", "alloc", "gc", "gc/derive"];

/// The names the rule requires for the files under `src` (sorted).
fn required_names(src: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().expect("a UTF-8 file name");
            let path = format!("{rel}{name}");
            if entry.file_type().unwrap().is_dir() {
                out.push(format!("{path}/"));
                walk(&entry.path(), &format!("{path}/"), out);
            } else if name.ends_with(".rs") && name != "mod.rs" && path != "lib.rs" {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(src, "", &mut out);
    out.sort();
    out
}

/// The text of the layout section of `lib_rs` (the source of a `lib.rs`), if any.
fn layout_section(lib_rs: &str) -> Option<String> {
    let mut section: Option<String> = None;
    for line in lib_rs.lines() {
        let Some(doc) = line.trim_start().strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        let heading = doc.starts_with("# ");
        match &mut section {
            None if heading && doc.starts_with("# Layout") => section = Some(String::new()),
            Some(_) if heading => break,
            Some(text) => {
                text.push_str(doc);
                text.push('\n');
            }
            None => {}
        }
    }
    section
}

/// The required names that `layout` does not mention.
fn missing<'a>(layout: &str, required: &'a [String]) -> Vec<&'a str> {
    required
        .iter()
        .map(String::as_str)
        .filter(|name| !layout.contains(&format!("`{name}`")))
        .collect()
}

#[test]
fn every_module_file_is_named_in_its_crates_layout() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for krate in CRATES {
        let src = root.join(krate).join("src");
        let required = required_names(&src);
        if required.is_empty() {
            continue;
        }
        let lib_rs = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let Some(layout) = layout_section(&lib_rs) else {
            failures.push(format!(
                "{krate}/src/lib.rs has no `//! # Layout` section, but src/ holds {required:?}"
            ));
            continue;
        };
        for name in missing(&layout, &required) {
            failures.push(format!(
                "{krate}/src/{name} is not named in the `# Layout` section of \
                 {krate}/src/lib.rs (write `{name}` there, with what it is for)"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// The checker itself: a file left out of the layout is reported, a name outside
/// the layout section does not count, and a name without a file is fine.
#[test]
fn the_check_reports_a_file_left_out_of_the_layout() {
    let lib_rs = "\
//! A crate.
//!
//! # Layout
//!
//! - `a.rs` — the first file.
//! - `d/` — a directory module: `d/b.rs`.
//! - `coming.rs` — not written yet.
//!
//! # Example
//!
//! `d/c.rs` is mentioned here, outside the layout.
pub mod a;
";
    let layout = layout_section(lib_rs).expect("a layout section");
    let required: Vec<String> = ["a.rs", "d/", "d/b.rs", "d/c.rs"]
        .map(String::from)
        .to_vec();
    assert_eq!(missing(&layout, &required), ["d/c.rs"]);
    assert_eq!(layout_section("//! # Example\n"), None);
}

/// Directory modules and nested files get the names the rule gives them.
#[test]
fn required_names_follow_the_rule() {
    let names = required_names(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("runtime/src"));
    assert!(names.iter().any(|n| n == "proc/"));
    assert!(names.iter().any(|n| n == "proc/sched.rs"));
    assert!(!names.iter().any(|n| n.ends_with("mod.rs") || n == "lib.rs"));
}
