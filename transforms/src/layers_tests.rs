//! The crate's layers, checked: no library code imports from a layer above its own.
//!
//! The order is the `Layers` line of the crate docs in `lib.rs`, so the docs and the check cannot
//! drift apart. This test reads the sources from `CARGO_MANIFEST_DIR`, walks the module tree from
//! `lib.rs`, and finds every `crate::…`, `use crate::{…}` and `super::…` path outside comments and
//! string literals. Test code (`#[cfg(test)]` modules, inline or in files of their own) may reach
//! anywhere: nothing depends on it, so it cannot close a cycle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Each layer's label and top-level modules, lowest first, from `lib.rs`'s `Layers` line:
/// `label (a, b) → label (c) → …`.
fn layers(lib: &str) -> Vec<(String, Vec<String>)> {
    let line = lib
        .lines()
        .find(|l| l.starts_with("//! Layers") && l.contains('→'))
        .expect("lib.rs states its layers on one `//! Layers … → …` line");
    line.split('→')
        .map(|part| {
            let (label, rest) = part.split_once('(').unwrap_or((part, ""));
            let label = label.trim_start_matches("//! Layers:").trim().to_owned();
            let inner = rest.split_once(')').map_or("", |(inner, _)| inner);
            let mods = inner
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            (label, mods)
        })
        .collect()
}

/// `text` with comments and the contents of string and char literals blanked out (newlines
/// kept), so that offsets and line numbers stay those of the source.
fn code_only(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut [char], from: usize, to: usize| {
        for x in &mut out[from..to.min(c.len())] {
            if *x != '\n' {
                *x = ' ';
            }
        }
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            let end = (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && at(i + 1) == '*' {
            let (mut depth, mut k) = (1, i + 2);
            while k < c.len() && depth > 0 {
                if c[k] == '/' && at(k + 1) == '*' {
                    depth += 1;
                    k += 1;
                } else if c[k] == '*' && at(k + 1) == '/' {
                    depth -= 1;
                    k += 1;
                }
                k += 1;
            }
            blank(&mut out, i, k);
            i = k;
        } else if c[i] == 'r'
            && (at(i + 1) == '"' || at(i + 1) == '#')
            && !ident(at(i.wrapping_sub(1)))
            || (c[i] == 'b' && at(i + 1) == 'r' && (at(i + 2) == '"' || at(i + 2) == '#'))
        {
            // Raw string: r"…", r#"…"#, br#"…"#.
            let mut k = i + if c[i] == 'b' { 2 } else { 1 };
            let hashes = (k..c.len()).take_while(|&j| c[j] == '#').count();
            k += hashes;
            if at(k) != '"' {
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let end = (k + 1..c.len())
                .find(|&j| c[j..].starts_with(&close))
                .map_or(c.len(), |j| j + close.len());
            blank(&mut out, k, end);
            i = end;
        } else if c[i] == '"' {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, k + 1);
            i = k + 1;
        } else if c[i] == '\'' && at(i + 1) == '\\' {
            let end = (i + 2..c.len()).find(|&k| c[k] == '\'').unwrap_or(c.len());
            blank(&mut out, i, end + 1);
            i = end + 1;
        } else if c[i] == '\'' && at(i + 2) == '\'' {
            blank(&mut out, i, i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// The index of the `}` matching the `{` at `open`.
fn matching(code: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (k, &ch) in code.iter().enumerate().skip(open) {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn ident_at(code: &[char], i: usize) -> String {
    code[i..]
        .iter()
        .take_while(|ch| ch.is_alphanumeric() || **ch == '_')
        .collect()
}

fn skip_space(code: &[char], mut i: usize) -> usize {
    while code.get(i).is_some_and(|ch| ch.is_whitespace()) {
        i += 1;
    }
    i
}

/// The first segment of each path that starts at `i` (after `crate::` or `super::`): one name,
/// or one per item of a `{…}` group; with whether a `::` follows it (a module, not an item).
fn first_segments(code: &[char], i: usize) -> Vec<(String, bool)> {
    let segment = |at: usize| {
        let name = ident_at(code, at);
        let next = at + name.chars().count();
        let module = code[next.min(code.len())..].starts_with(&[':', ':']);
        (name, module)
    };
    let i = skip_space(code, i);
    if code.get(i) != Some(&'{') {
        return vec![segment(i)];
    }
    let end = matching(code, i);
    let (mut out, mut depth, mut start) = (Vec::new(), 0, i + 1);
    for k in i + 1..=end {
        match code[k] {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => {
                let (name, module) = segment(skip_space(code, start));
                if !name.is_empty() {
                    out.push((name, module));
                }
                start = k + 1;
            }
            _ => {}
        }
    }
    out
}

/// A module declared in a file: `mod name;` (a file of its own) or `mod name { … }` (inline).
struct ModDecl {
    name: String,
    test: bool,
    /// For inline modules, the span of the body.
    body: Option<(usize, usize)>,
}

fn mod_decls(code: &[char]) -> Vec<ModDecl> {
    let text: String = code.iter().collect();
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_to_char: HashMap<usize, usize> = chars
        .iter()
        .enumerate()
        .map(|(ci, (b, _))| (*b, ci))
        .collect();
    for (b, _) in text.match_indices("mod ") {
        let ci = byte_to_char[&b];
        if ci > 0 && (code[ci - 1].is_alphanumeric() || code[ci - 1] == '_') {
            continue;
        }
        let name_at = skip_space(code, ci + 4);
        let name = ident_at(code, name_at);
        let after = skip_space(code, name_at + name.chars().count());
        let body = match code.get(after) {
            Some(';') => None,
            Some('{') => Some((after, matching(code, after))),
            _ => continue,
        };
        // The attributes above the declaration (skipping a visibility).
        let line_start = text[..b].rfind('\n').map_or(0, |n| n + 1);
        let before = text[..line_start].trim_end();
        let prev_line = before.rsplit('\n').next().unwrap_or("").trim();
        let test = prev_line == "#[cfg(test)]";
        out.push(ModDecl { name, test, body });
    }
    out
}

/// One file of the module tree.
struct SourceFile {
    path: PathBuf,
    /// Its module path below the crate root (empty for `lib.rs`).
    module: Vec<String>,
    test: bool,
    code: Vec<char>,
}

/// Walks the module tree from `lib.rs`, reading each file with `read`.
fn module_tree(read: &dyn Fn(&Path) -> Option<String>) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut stack = vec![(PathBuf::from("lib.rs"), Vec::<String>::new(), false)];
    while let Some((path, module, test)) = stack.pop() {
        let text = read(&path).unwrap_or_else(|| panic!("cannot read {}", path.display()));
        let code = code_only(&text);
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "mod.rs") => path.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => path.with_extension(""),
        };
        // `include!("table.rs")`: generated data, part of the including module.
        for (b, _) in text.match_indices("include!(\"") {
            let name = text[b + 10..].split('"').next().unwrap_or_default();
            let at = text[..b].chars().count();
            if code[at..].starts_with(&['i', 'n', 'c']) {
                let included = path.parent().unwrap_or(Path::new("")).join(name);
                stack.push((included, module.clone(), test));
            }
        }
        for d in mod_decls(&code).into_iter().filter(|d| d.body.is_none()) {
            let flat = dir.join(format!("{}.rs", d.name));
            let nested = dir.join(&d.name).join("mod.rs");
            let child = if read(&flat).is_some() { flat } else { nested };
            let mut m = module.clone();
            m.push(d.name);
            stack.push((child, m, test || d.test));
        }
        out.push(SourceFile {
            path,
            module,
            test,
            code,
        });
    }
    out
}

/// Every import of a higher layer by library code, as `file:line: what`.
fn violations(read: &dyn Fn(&Path) -> Option<String>) -> Vec<String> {
    let lib = read(Path::new("lib.rs")).expect("lib.rs");
    let order = layers(&lib);
    let layer_of: HashMap<String, usize> = order
        .iter()
        .enumerate()
        .flat_map(|(i, (_, mods))| mods.iter().map(move |m| (m.clone(), i)))
        .collect();
    let files = module_tree(read);
    let mut problems = Vec::new();
    // Names the crate root re-exports: `pub use module::{a, b};` makes `crate::a` module's.
    let root = &files
        .iter()
        .find(|f| f.module.is_empty())
        .expect("lib.rs")
        .code;
    let root_text: String = root.iter().collect();
    let mut reexports: HashMap<String, String> = HashMap::new();
    for stmt in root_text.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, rest) = path.split_once("::").unwrap_or((path, ""));
        for name in rest.split(|ch: char| !(ch.is_alphanumeric() || ch == '_')) {
            if !name.is_empty() {
                reexports.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    let top: Vec<&SourceFile> = files.iter().filter(|f| f.module.len() == 1).collect();
    for f in &top {
        if !f.test && !layer_of.contains_key(&f.module[0]) {
            problems.push(format!(
                "{}: module `{}` is missing from lib.rs's `Layers` line",
                f.path.display(),
                f.module[0]
            ));
        }
    }
    for m in layer_of.keys() {
        if !top.iter().any(|f| &f.module[0] == m) {
            problems.push(format!(
                "lib.rs: the `Layers` line names `{m}`, which is no module"
            ));
        }
    }
    // A crate-root name's layer: a module's own, a re-exported item's module's, or above every
    // layer for the items of lib.rs itself.
    let layer_of_root = |(name, module): &(String, bool)| {
        let owner = match reexports.get(name) {
            Some(m) if !*module => m.as_str(),
            _ => name.as_str(),
        };
        layer_of.get(owner).copied().unwrap_or(usize::MAX)
    };
    for f in files.iter().filter(|f| !f.test && !f.module.is_empty()) {
        let Some(&own) = layer_of.get(&f.module[0]) else {
            continue;
        };
        let decls = mod_decls(&f.code);
        let inline: Vec<&ModDecl> = decls.iter().filter(|d| d.body.is_some()).collect();
        let text: String = f.code.iter().collect();
        let byte_to_char: HashMap<usize, usize> = text
            .char_indices()
            .enumerate()
            .map(|(ci, (b, _))| (b, ci))
            .collect();
        let mut found = Vec::new();
        for (b, _) in text
            .match_indices("crate::")
            .chain(text.match_indices("super::"))
        {
            let ci = byte_to_char[&b];
            if ci > 0 && (f.code[ci - 1].is_alphanumeric() || f.code[ci - 1] == '_') {
                continue;
            }
            if found.contains(&ci) {
                continue;
            }
            let inside: Vec<&&ModDecl> = inline
                .iter()
                .filter(|d| d.body.is_some_and(|(s, e)| s < ci && ci < e))
                .collect();
            if inside.iter().any(|d| d.test) {
                continue;
            }
            let line = text[..b].matches('\n').count() + 1;
            let (targets, shown_end) = if text[b..].starts_with("crate::") {
                found.push(ci);
                let segs = first_segments(&f.code, ci + 7);
                (segs.iter().map(layer_of_root).collect::<Vec<_>>(), ci + 7)
            } else {
                // `super::super::…`: climb from this file's module and its inline modules.
                let mut depth = f.module.len() + inside.len();
                let mut k = ci;
                while f.code[k..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                    found.push(k);
                    depth = depth.saturating_sub(1);
                    k += 7;
                }
                if depth > 0 {
                    continue; // still inside the same top-level module
                }
                let segs = first_segments(&f.code, k);
                (segs.iter().map(layer_of_root).collect(), k)
            };
            if targets.iter().any(|&t| t > own) {
                let end = (shown_end..f.code.len())
                    .find(|&k| matches!(f.code[k], ';' | '\n' | '(' | ')' | ' '))
                    .unwrap_or(f.code.len());
                let what: String = f.code[ci..end].iter().collect();
                problems.push(format!(
                    "{}:{line}: `{}` ({}) uses `{what}` from a higher layer",
                    f.path.display(),
                    f.module.join("::"),
                    order[own].0,
                ));
            }
        }
    }
    problems
}

fn read_src(p: &Path) -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    std::fs::read_to_string(Path::new(root).join(p)).ok()
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let problems = violations(&read_src);
    assert!(
        problems.is_empty(),
        "layering broken (see the `Layers` line in lib.rs):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_source_file_is_in_the_module_tree() {
    let tree: Vec<PathBuf> = module_tree(&read_src).into_iter().map(|f| f.path).collect();
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("src is readable").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).expect("under src").to_path_buf();
                assert!(
                    tree.contains(&rel),
                    "{} is not reached from lib.rs",
                    rel.display()
                );
            }
        }
    }
}

/// The check itself catches what it must, on a small made-up crate.
#[test]
fn the_check_finds_planted_violations() {
    let files: HashMap<&str, &str> = HashMap::from([
        (
            "lib.rs",
            "//! Layers: low (a) → high (b)\nmod a;\nmod b;\npub use b::{run, Thing};\n",
        ),
        (
            "a.rs",
            "//! See [`crate::b`].\nuse crate::{b::x, a::y};\nfn f() { let s = \"crate::b\"; crate::run(); }\n\
             mod inner {\n    use super::super::b::z;\n}\n#[cfg(test)]\nmod tests {\n    use crate::b::ok;\n}\n",
        ),
        ("b.rs", "use crate::a::fine;\nmod c;\n"),
        ("b/c.rs", "use super::super::a::fine;\n"),
    ]);
    let read = |p: &Path| files.get(p.to_str()?).map(|s| (*s).to_owned());
    let problems = violations(&read);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("a.rs:2:") && problems[0].contains("crate::{b::x"));
    assert!(problems[1].starts_with("a.rs:3:") && problems[1].contains("crate::run"));
    assert!(problems[2].starts_with("a.rs:5:") && problems[2].contains("super::super::b"));
}
