//! Property tests: random queries and random mentions, the compiled matcher against the
//! brute-force reference evaluator; and every query that parses prints back to a query that
//! parses to the same tree.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::signals::query::{CmpOp, Expr, Facet, Filter, NumField, TextLeaf};

const WORDS: &[&str] = &[
    "climate",
    "Climate",
    "CLIMATE",
    "change",
    "changes",
    "changing",
    "café",
    "cafe",
    "CAFÉ",
    "cafe\u{301}",
    "naïve",
    "naive",
    "straße",
    "strasse",
    "run",
    "running",
    "runs",
    "ﬁre",
    "fire",
    "σοφός",
    "ΣΟΦΟΣ",
    "東京",
    "don't",
    "e-mail",
    "mail",
    "solar",
    "panel",
    "panels",
    "123",
    "4.5",
    "the",
    "a",
];
const PREFIXES: &[&str] = &[
    "cli*", "clim*", "chang*", "caf*", "nai*", "str*", "run*", "sol*", "pan*", "fir*", "σοφ*",
    "mai*", "CAFÉ*",
];
const FILTERS: &[&str] = &[
    "source:x",
    "source:reddit",
    "is:reply",
    "is:post",
    "is:verified",
    "lang:en",
    "lang:fr",
    "hashtag:tag",
    "hashtag:Tàg",
    "mention:bob",
    "author:alice",
    "author:7",
    "domain:example.com",
    "domain:news.example.com",
    "sentiment:positive",
    "sentiment:neutral",
    "sentiment:negative",
    "followers:>1000",
    "followers:<=10",
    "likes:0",
    "score:<0.5",
    "is:flagged",
    "word_count:>=3",
];
const ODD: &[&str] = &[
    ",",
    ".",
    "!",
    " - ",
    "#tag",
    "@bob",
    "\u{301}",
    "\u{200f}",
    "😀",
    "ΣΟΦΟΣ,",
    "\n",
    "\u{0}",
    "climate-change",
    "solar/panel",
];

fn text_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(WORDS).prop_map(str::to_owned),
        2 => (select(WORDS), select(WORDS)).prop_map(|(a, b)| format!("\"{a} {b}\"")),
        2 => select(PREFIXES).prop_map(str::to_owned),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => text_leaf(),
        2 => select(FILTERS).prop_map(str::to_owned),
        2 => (text_leaf(), 0u32..4, text_leaf()).prop_map(|(a, n, b)| format!("{a} NEAR/{n} {b}")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) ({b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("{a} OR {b} OR {c}")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            inner.prop_map(|a| format!("-({a})")),
        ]
    })
}

fn options() -> impl Strategy<Value = SignalOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(keep_accents, stem)| SignalOptions {
        keep_accents,
        stem: stem.then_some(StemLanguage::English),
    })
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => select(WORDS).prop_map(str::to_owned),
            2 => select(ODD).prop_map(str::to_owned),
            1 => "\\PC{0,3}",
        ],
        0..24,
    )
    .prop_map(|v| v.join(" "))
}

/// The facets of one random mention.
#[derive(Debug, Clone)]
struct Facets {
    source: Source,
    kind: Kind,
    verified: Option<bool>,
    followers: Option<u64>,
    likes: Option<u64>,
    handle: &'static str,
    lang: &'static str,
    entities: Vec<(Facet, &'static str)>,
    sentiment: Option<f64>,
    score: Option<f64>,
    flagged: Option<bool>,
    word_count: Option<i64>,
}

fn facets() -> impl Strategy<Value = Facets> {
    let entities = prop::sample::subsequence(
        vec![
            (Facet::Hashtag, "#tag"),
            (Facet::Hashtag, "#TÀG"),
            (Facet::Mention, "@Bob"),
            (Facet::Domain, "https://www.example.com/x"),
            (Facet::Domain, "http://news.Example.com:80"),
            (Facet::Domain, "example.org"),
        ],
        0..4,
    );
    let sentiment = prop_oneof![
        Just(None),
        Just(Some(0.05)),
        Just(Some(-0.05)),
        (-1.0f64..1.0).prop_map(Some)
    ];
    (
        (
            select(vec![Source::X, Source::Reddit, Source::Bluesky]),
            select(vec![Kind::Post, Kind::Reply]),
            prop::option::of(any::<bool>()),
            prop::option::of(0u64..3000),
            prop::option::of(0u64..3),
            select(vec!["Alice", "bob", "ALİCE"]),
            select(vec!["en", "fr", "und"]),
        ),
        (
            entities,
            sentiment,
            prop::option::of(0.0f64..1.0),
            prop::option::of(any::<bool>()),
            prop::option::of(0i64..6),
        ),
    )
        .prop_map(
            |(
                (source, kind, verified, followers, likes, handle, lang),
                (entities, sentiment, score, flagged, word_count),
            )| Facets {
                source,
                kind,
                verified,
                followers,
                likes,
                handle,
                lang,
                entities,
                sentiment,
                score,
                flagged,
                word_count,
            },
        )
}

fn build_mention(text: &str, f: &Facets) -> Mention {
    let mut m = mention(text);
    m.source = f.source;
    m.kind = f.kind;
    m.author.verified = f.verified;
    m.author.followers = f.followers;
    m.author.handle = f.handle.into();
    m.author.id = "7".into();
    m.engagement.likes = f.likes;
    m
}

fn view<'a>(m: &'a Mention, f: &Facets) -> TestView<'a> {
    let mut v = TestView::new(m);
    v.lang = f.lang.into();
    v.entities = f
        .entities
        .iter()
        .map(|(k, s)| (*k, (*s).to_owned()))
        .collect();
    v.record.values = vec![
        f.sentiment.map_or(Value::Null, Value::Float),
        f.score.map_or(Value::Null, Value::Float),
        f.flagged.map_or(Value::Null, Value::Bool),
        f.word_count.map_or(Value::Null, Value::Int),
    ];
    v
}

fn permissive() -> Limits {
    Limits {
        max_unanchored_per_tenant: 1000,
        ..Limits::default()
    }
}

/// The query text of a parsed tree: what a tenant could have written to get it. Words are
/// already normalised, and normalising them again changes nothing (without stemming, which is
/// not idempotent: a stem need not stem to itself).
fn unparse(e: &Expr) -> String {
    let join = |xs: &[Expr], op: &str| {
        let parts: Vec<String> = xs.iter().map(|x| format!("({})", unparse(x))).collect();
        parts.join(op)
    };
    match e {
        Expr::And(xs) => join(xs, " AND "),
        Expr::Or(xs) => join(xs, " OR "),
        Expr::Not(x) => format!("NOT ({})", unparse(x)),
        Expr::Text(t) => unparse_leaf(t),
        Expr::Near {
            left,
            right,
            distance,
        } => format!(
            "{} NEAR/{distance} {}",
            unparse_leaf(left),
            unparse_leaf(right)
        ),
        Expr::Filter(f) => unparse_filter(f),
    }
}

fn unparse_leaf(t: &TextLeaf) -> String {
    match t {
        TextLeaf::Phrase(words) => format!("\"{}\"", words.join(" ")),
        TextLeaf::Prefix(p) => format!("{p}*"),
    }
}

/// The name [`test_fields`] gives field `id`.
fn test_field_name(id: usize) -> &'static str {
    ["sentiment_compound", "score", "flagged", "word_count"][id]
}

fn unparse_filter(f: &Filter) -> String {
    match f {
        Filter::Fact(facet, v) => {
            let name = match facet {
                Facet::Source => "source",
                Facet::Kind | Facet::Verified => "is",
                Facet::Lang => "lang",
                Facet::Author => "author",
                Facet::Hashtag => "hashtag",
                Facet::Mention => "mention",
                Facet::Domain => "domain",
                Facet::Sentiment => "sentiment",
            };
            format!("{name}:{v}")
        }
        Filter::Cmp { field, op, value } => {
            let name = match field {
                NumField::Followers => "followers",
                NumField::Following => "following",
                NumField::Posts => "posts",
                NumField::Likes => "likes",
                NumField::Reposts => "reposts",
                NumField::Replies => "replies",
                NumField::Quotes => "quotes",
                NumField::Views => "views",
                NumField::Record(id) => test_field_name(*id),
            };
            let op = match op {
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Eq => "=",
                CmpOp::Ge => ">=",
                CmpOp::Gt => ">",
            };
            format!("{name}:{op}{value}")
        }
        Filter::Flag(id) => format!("is:{}", test_field_name(*id)),
    }
}

/// Whether every word of `e` can be written in a query: one that segments as itself. Words are
/// segmented before they are normalised, and NFKC can turn one character into a space and a
/// mark (U+00AF → U+0020 U+0304) or into two letters a segmenter splits (U+0EDC → U+0EAB
/// U+0E99): such a normal form matches mention tokens normalised alike, but no query text
/// spells it. Nor does any spell a word holding `*` or `"`, which NFKC makes of full-width and
/// small forms (`𚿽＊𖚫` is the phrase `𚿽`, `*𖚫`): a query's own `*` is a wildcard and its `"`
/// opens a phrase, so the typed form matches literally and only the printed one cannot.
fn printable(e: &Expr) -> bool {
    let word = |w: &str| {
        let mut out = Vec::new();
        crate::analysis::words_into(w, &mut out);
        // A lowercased term such as `andx:b` (from `ANDx:b`) would read back as a field filter;
        // the printer cannot spell it as a term, so such trees are not round-tripped.
        out == [w]
            && !w.contains(char::is_whitespace)
            && !w.contains(['*', '"'])
            && !looks_like_field(w)
    };
    let leaf = |t: &TextLeaf| match t {
        TextLeaf::Phrase(words) => words.iter().all(|w| word(w)),
        TextLeaf::Prefix(p) => word(p),
    };
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().all(printable),
        Expr::Not(x) => printable(x),
        Expr::Text(t) => leaf(t),
        Expr::Near { left, right, .. } => leaf(left) && leaf(right),
        Expr::Filter(_) => true,
    }
}

/// Mirrors the parser's `name:value` test: a lowercase identifier before a colon.
fn looks_like_field(w: &str) -> bool {
    w.split_once(':').is_some_and(|(name, _)| {
        let mut b = name.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
            && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
    })
}

/// If `q` parses, its printed tree parses to the same tree.
fn round_trips(q: &str, options: SignalOptions) -> Result<(), TestCaseError> {
    let parse = |q: &str| parse(q, options, &Limits::default(), &test_fields);
    if let Ok(tree) = parse(q)
        .map_err(drop)
        .and_then(|t| if printable(&t.expr) { Ok(t) } else { Err(()) })
    {
        let printed = unparse(&tree.expr);
        prop_assert_eq!(
            parse(&printed),
            Ok(tree),
            "{:?} printed as {:?}",
            q,
            printed
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsed_queries_print_back_to_the_same_tree(q in query(), keep_accents in any::<bool>()) {
        let options = SignalOptions { keep_accents, stem: None };
        prop_assert!(parse(&q, options, &Limits::default(), &test_fields).is_ok(), "{:?}", q);
        round_trips(&q, options)?;
    }

    #[test]
    fn compiled_matcher_agrees_with_reference(
        rules in prop::collection::vec((query(), options(), 0usize..3), 1..12),
        mentions in prop::collection::vec((text(), facets()), 1..4),
    ) {
        let set = SignalSet {
            signals: rules
                .iter()
                .enumerate()
                .map(|(i, (q, o, t))| signal(&format!("t{t}"), &format!("s{i}"), q, *o))
                .collect(),
        };
        let ms: Vec<Mention> = mentions.iter().map(|(t, f)| build_mention(t, f)).collect();
        let views: Vec<TestView<'_>> =
            ms.iter().zip(&mentions).map(|(m, (_, f))| view(m, f)).collect();
        check_against_reference(&set, &permissive(), &views);
    }

    #[test]
    fn arbitrary_queries_fail_cleanly_or_round_trip(q in "\\PC{0,80}") {
        round_trips(&q, SignalOptions::default())?;
    }

    #[test]
    fn arbitrary_query_syntax_fails_cleanly_or_round_trips(
        parts in prop::collection::vec(
            select(vec!["(", ")", "\"", "AND", "OR", "NOT", "-", "NEAR/2", "NEAR/", "a", "b*",
                        "*", "x:", "lang:en", "followers:>", " ", "é", "😀"]),
            0..30,
        ),
    ) {
        round_trips(&parts.join(" "), SignalOptions::default())?;
        round_trips(&parts.concat(), SignalOptions::default())?;
    }

    #[test]
    fn arbitrary_text_matches_like_reference(t in "\\PC{0,200}", f in facets()) {
        let set = SignalSet {
            signals: [
                "climate OR cafe*", "\"solar panel\" NEAR/3 the", "NOT σοφος", "東京",
                "sol* -lang:fr", "hashtag:tag OR domain:example.com",
            ]
            .iter()
            .enumerate()
            .map(|(i, q)| signal("t", &format!("{i}"), q, SignalOptions::default()))
            .collect(),
        };
        let m = build_mention(&t, &f);
        check_against_reference(&set, &permissive(), &[view(&m, &f)]);
    }
}
