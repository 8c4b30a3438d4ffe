//! The lenient reader's document tree: quick-xml events into elements, tolerating what a
//! strict parser stops at.

use std::collections::HashMap;
use std::io::Read;

use quick_xml::events::{BytesStart, Event};

use super::XML;
use crate::common::html;

/// One element: its namespace and local name, its attributes (local name, decoded value;
/// `xml:` ones keep the prefix) and its content.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub kids: Vec<Kid>,
}

#[derive(Debug)]
pub(super) enum Kid {
    El(Node),
    /// Character data, entities decoded (unknown ones stay as written).
    Text(String),
}

impl Node {
    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn elements(&self) -> impl Iterator<Item = &Node> {
        self.kids.iter().filter_map(|k| match k {
            Kid::El(n) => Some(n),
            Kid::Text(_) => None,
        })
    }

    pub(super) fn is(&self, namespaces: &[&str], name: &str) -> bool {
        namespaces.contains(&self.ns.as_str()) && self.name.eq_ignore_ascii_case(name)
    }

    /// The first child element named `name` in one of `namespaces`.
    pub(super) fn child(&self, namespaces: &[&str], name: &str) -> Option<&Node> {
        self.elements().find(|n| n.is(namespaces, name))
    }

    /// The character data of this element and its descendants.
    pub(super) fn string_value(&self) -> String {
        let mut s = String::new();
        self.collect_text(&mut s);
        s
    }

    fn collect_text(&self, out: &mut String) {
        for k in &self.kids {
            match k {
                Kid::Text(t) => out.push_str(t),
                Kid::El(n) => n.collect_text(out),
            }
        }
    }

    /// The content as markup (text escaped again), for HTML-to-text.
    pub(super) fn inner_markup(&self) -> String {
        let mut s = String::new();
        for k in &self.kids {
            match k {
                Kid::Text(t) => escape_into(t, &mut s),
                Kid::El(n) => {
                    s.push('<');
                    s.push_str(&n.name);
                    s.push('>');
                    s.push_str(&n.inner_markup());
                    s.push_str("</");
                    s.push_str(&n.name);
                    s.push('>');
                }
            }
        }
        s
    }
}

fn escape_into(t: &str, out: &mut String) {
    for c in t.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

/// Moves the elements in namespace `ns` into the no-namespace (core) vocabulary.
pub(super) fn into_core(n: &mut Node, ns: &str) {
    if n.ns == ns {
        n.ns.clear();
    }
    for k in &mut n.kids {
        if let Kid::El(c) = k {
            into_core(c, ns);
        }
    }
}

/// Nesting kept in the tree (a feed entry's XHTML content rarely passes 20).
const MAX_DEPTH: usize = 128;

/// The document as text: the encoding its BOM or XML declaration names, else UTF-8 (invalid
/// bytes replaced).
pub(super) fn decode(bytes: &[u8]) -> String {
    let mut s = String::new();
    let mut r = quick_xml::encoding::DecodingReader::new(bytes);
    if r.read_to_string(&mut s).is_ok() {
        return s;
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// The document's root element as a tree. An end tag closes the elements left open inside it,
/// one that matches nothing is ignored, and a syntax error skips to the next markup; `None`
/// when the root is never closed (a truncated document, whose last entry would be cut short).
/// Entities declared in the internal DTD are expanded (feed-rs leaves them as written; the
/// `bool` says one was used).
pub(super) fn tree(doc: &str) -> Option<(Node, bool)> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let cfg = reader.config_mut();
    cfg.check_end_names = false;
    cfg.allow_unmatched_ends = true;
    cfg.allow_dangling_amp = true;
    cfg.check_comments = false;
    // Open elements with their namespace scopes (prefix -> URI); [0] is a document node.
    let mut open: Vec<(Node, HashMap<String, String>)> = vec![(Node::default(), HashMap::new())];
    let mut last_error = None;
    let mut entities: HashMap<String, String> = HashMap::new();
    let mut used_entity = false;
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(_) => {
                let at = reader.buffer_position();
                if last_error == Some(at) || at as usize >= doc.len() {
                    break;
                }
                last_error = Some(at);
                continue;
            }
        };
        match ev {
            // Deeper than any feed nests: the tag is dropped and its content joins its parent's,
            // so that walking the tree cannot overflow the stack.
            Event::Start(_) if open.len() > MAX_DEPTH => {}
            Event::Start(e) => {
                let (node, scope) = element(&e, &open);
                open.push((node, scope));
            }
            Event::Empty(e) => {
                let (node, _) = element(&e, &open);
                push_kid(&mut open, Kid::El(node));
            }
            Event::End(e) => {
                let name = local(e.name().as_ref()).to_owned();
                // Close up to the matching open element; an end tag nothing matches is dropped.
                if let Some(i) = open
                    .iter()
                    .rposition(|(n, _)| n.name.eq_ignore_ascii_case(&name))
                    && i > 0
                {
                    while open.len() > i {
                        close(&mut open);
                    }
                }
            }
            Event::Text(t) => push_text(&mut open, &html::decode_entities(&t)),
            Event::GeneralRef(r) => match entities.get(&r as &str) {
                Some(v) => {
                    used_entity = true;
                    push_text(&mut open, v);
                }
                None => push_text(&mut open, &html::decode_entities(&format!("&{};", &*r))),
            },
            Event::DocType(d) => entities = dtd_entities(&d),
            Event::CData(c) => push_text(&mut open, &c),
            Event::Eof => break,
            _ => {}
        }
    }
    if open.len() > 1 {
        return None; // truncated: the root is still open
    }
    let (doc_node, _) = open.pop()?;
    let root = doc_node.kids.into_iter().find_map(|k| match k {
        Kid::El(n) => Some(n),
        Kid::Text(_) => None,
    })?;
    Some((root, used_entity))
}

/// `<!ENTITY name "value">` declarations of an internal DTD (general entities only).
fn dtd_entities(dtd: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for decl in dtd.split("<!ENTITY").skip(1) {
        let decl = decl.trim_start();
        if decl.starts_with('%') {
            continue;
        }
        let Some((name, rest)) = decl.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some((value, _)) = rest[1..].split_once(q) {
            out.insert(name.to_owned(), html::decode_entities(value));
        }
    }
    out
}

fn local(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l)
}

fn element(
    e: &BytesStart<'_>,
    open: &[(Node, HashMap<String, String>)],
) -> (Node, HashMap<String, String>) {
    let mut scope = HashMap::new();
    let mut attrs = Vec::new();
    for a in e.html_attributes().with_checks(false).flatten() {
        let key = a.key.as_ref();
        let value = html::decode_entities(&a.value);
        if key == "xmlns" {
            scope.insert(String::new(), value.trim().to_owned());
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.insert(p.to_owned(), value.trim().to_owned());
        } else if key.starts_with("xml:") {
            attrs.push((key.to_owned(), value));
        } else {
            attrs.push((local(key).to_owned(), value));
        }
    }
    let qname = e.name();
    let qname = qname.as_ref();
    let prefix = qname.rsplit_once(':').map_or("", |(p, _)| p);
    let ns = resolve(prefix, &scope, open);
    let node = Node {
        ns,
        name: local(qname).to_owned(),
        attrs,
        kids: Vec::new(),
    };
    (node, scope)
}

fn resolve(
    prefix: &str,
    scope: &HashMap<String, String>,
    open: &[(Node, HashMap<String, String>)],
) -> String {
    if prefix == "xml" {
        return XML.to_owned();
    }
    std::iter::once(scope)
        .chain(open.iter().rev().map(|(_, s)| s))
        .find_map(|s| s.get(prefix))
        .cloned()
        .unwrap_or_default()
}

fn close(open: &mut Vec<(Node, HashMap<String, String>)>) {
    if let Some((n, _)) = open.pop() {
        push_kid(open, Kid::El(n));
    }
}

fn push_kid(open: &mut [(Node, HashMap<String, String>)], kid: Kid) {
    if let Some((n, _)) = open.last_mut() {
        n.kids.push(kid);
    }
}

fn push_text(open: &mut [(Node, HashMap<String, String>)], t: &str) {
    if let Some((n, _)) = open.last_mut() {
        match n.kids.last_mut() {
            Some(Kid::Text(s)) => s.push_str(t),
            _ => n.kids.push(Kid::Text(t.to_owned())),
        }
    }
}
