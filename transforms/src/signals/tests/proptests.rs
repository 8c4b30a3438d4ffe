//! Property tests: random queries and random mentions, the compiled matcher against the
//! brute-force reference evaluator; and no panic on arbitrary Unicode.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

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
    fn arbitrary_queries_parse_or_fail_cleanly(q in "\\PC{0,80}") {
        let _ = parse(&q, SignalOptions::default(), &Limits::default(), &test_fields);
    }

    #[test]
    fn arbitrary_query_syntax_parse_or_fail_cleanly(
        parts in prop::collection::vec(
            select(vec!["(", ")", "\"", "AND", "OR", "NOT", "-", "NEAR/2", "NEAR/", "a", "b*",
                        "*", "x:", "lang:en", "followers:>", " ", "é", "😀"]),
            0..30,
        ),
    ) {
        let q = parts.join(" ");
        let _ = parse(&q, SignalOptions::default(), &Limits::default(), &test_fields);
        let _ = parse(&parts.concat(), SignalOptions::default(), &Limits::default(), &test_fields);
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
