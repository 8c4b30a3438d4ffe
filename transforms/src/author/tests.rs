//! Tests of the author, engagement, post and time groups, including the pending ones.

use chrono::{DateTime, Duration, Utc};
use model::{
    Author, Engagement as Counts, Geo, Kind, Media, MediaKind, Mention, References, Source,
};
use proptest::prelude::*;

use super::*;
use crate::analysis::Analysis;
use crate::registry::{FieldWriter, Value};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test timestamp")
}

fn mention() -> Mention {
    Mention {
        id: "x:1".into(),
        source: Source::X,
        kind: Kind::Post,
        url: None,
        created_at: at("2026-03-07T13:47:10Z"), // a Saturday
        collected_at: at("2026-03-07T13:47:12.500Z"),
        edited_at: None,
        text: "hello".into(),
        lang_hint: None,
        author: Author {
            id: "7".into(),
            handle: "@jane_doe".into(),
            followers: Some(1_500),
            following: Some(299),
            posts: Some(3_650),
            created_at: Some(at("2025-03-07T13:47:10Z")),
            ..Author::default()
        },
        engagement: Counts {
            likes: Some(30),
            reposts: Some(6),
            replies: Some(4),
            ..Counts::default()
        },
        refs: References::default(),
        media: Vec::new(),
        geo: None,
        raw: None,
        extra: Default::default(),
    }
}

/// Runs one extractor alone and returns its values by field name.
fn run(e: &dyn Extractor, m: &Mention) -> Vec<(&'static str, Value)> {
    let a = Analysis::new(m);
    let mut slots = vec![Value::Str("\u{0}unwritten".into()); e.fields().len()];
    e.extract(&a, &mut FieldWriter::new(&mut slots, e.fields()));
    e.fields().iter().map(|f| f.name).zip(slots).collect()
}

fn get(e: &dyn Extractor, m: &Mention, name: &str) -> Value {
    run(e, m)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn float(v: Value) -> f64 {
    match v {
        Value::Float(x) => x,
        other => panic!("not a float: {other:?}"),
    }
}

#[test]
fn account_facts() {
    let m = mention();
    assert_eq!(get(&Account, &m, "author_followers"), Value::Int(1_500));
    assert_eq!(float(get(&Account, &m, "author_account_age_days")), 365.0);
    assert_eq!(get(&Account, &m, "author_new_account"), Value::Bool(false));
    assert_eq!(
        float(get(&Account, &m, "author_follower_ratio")),
        1_500.0 / 299.0
    );
    let want = (1_501f64).log10() + 0.5 * (1.0 + 1_500.0 / 300.0f64).log10();
    assert!((float(get(&Account, &m, "author_influence")) - want).abs() < 1e-12);
    assert_eq!(
        get(&Account, &m, "author_reach_tier"),
        Value::Str("nano".into())
    );
    assert_eq!(float(get(&Account, &m, "author_posts_per_day")), 10.0);
    assert_eq!(get(&Account, &m, "author_handle_len"), Value::Int(8));
    assert_eq!(get(&Account, &m, "author_handle_digits"), Value::Int(0));
    assert_eq!(get(&Account, &m, "author_handle_auto"), Value::Bool(false));
    assert_eq!(get(&Account, &m, "author_created_year"), Value::Int(2025));
}

#[test]
fn unknown_counts_are_null_not_zero() {
    let mut m = mention();
    m.author = Author {
        id: "1".into(),
        handle: "x".into(),
        ..Author::default()
    };
    m.engagement = Counts::default();
    for (name, v) in run(&Account, &m).into_iter().chain(run(&Engagement, &m)) {
        if !name.starts_with("author_handle") {
            assert_eq!(v, Value::Null, "{name}");
        }
    }
    // Zero followers: counts are known, per-follower rates are not defined.
    m.author.followers = Some(0);
    m.engagement.likes = Some(3);
    assert_eq!(get(&Engagement, &m, "engagement_rate"), Value::Null);
    assert_eq!(get(&Engagement, &m, "engagement_total"), Value::Int(3));
    assert_eq!(
        get(&Account, &m, "author_reach_tier"),
        Value::Str("tiny".into())
    );
}

#[test]
fn account_age_is_clamped_and_young_accounts_are_new() {
    let mut m = mention();
    m.author.created_at = Some(m.created_at + Duration::days(2));
    assert_eq!(float(get(&Account, &m, "author_account_age_days")), 0.0);
    assert_eq!(get(&Account, &m, "author_new_account"), Value::Bool(true));
    // Posts per day count a brand-new account's age as one day.
    assert_eq!(float(get(&Account, &m, "author_posts_per_day")), 3_650.0);
}

#[test]
fn auto_generated_handles() {
    for h in [
        "Dependent_Dig_8573",
        "jsmith20231187",
        "a1b2c3d4",
        "user123",
    ] {
        assert!(account::looks_auto_generated(h), "{h}");
    }
    for h in ["jane_doe", "bob2", "nasa", "user5", ""] {
        assert!(!account::looks_auto_generated(h), "{h}");
    }
}

#[test]
fn engagement_ratios() {
    let mut m = mention();
    m.engagement.quotes = Some(2);
    assert_eq!(get(&Engagement, &m, "engagement_total"), Value::Int(42));
    assert_eq!(
        float(get(&Engagement, &m, "engagement_rate")),
        42.0 / 1_500.0
    );
    assert_eq!(
        float(get(&Engagement, &m, "engagement_amplification")),
        8.0 / 38.0
    );
    assert_eq!(
        float(get(&Engagement, &m, "engagement_virality")),
        8_000.0 / 1_500.0
    );
    assert_eq!(
        float(get(&Engagement, &m, "engagement_reply_share")),
        4.0 / 42.0
    );
    m.engagement = Counts {
        likes: Some(0),
        reposts: Some(0),
        ..Counts::default()
    };
    assert_eq!(
        get(&Engagement, &m, "engagement_amplification"),
        Value::Null
    );
    assert_eq!(get(&Engagement, &m, "engagement_reply_share"), Value::Null);
}

#[test]
fn post_kind_and_reply() {
    let mut m = mention();
    assert_eq!(get(&Post, &m, "post_is_reply"), Value::Bool(false));
    assert_eq!(get(&Post, &m, "post_source"), Value::Str("x".into()));
    m.kind = Kind::Comment;
    assert_eq!(get(&Post, &m, "post_is_reply"), Value::Bool(true));
    m.kind = Kind::Quote;
    m.refs.reply_to = Some("x:0".into());
    assert_eq!(get(&Post, &m, "post_is_reply"), Value::Bool(true));
    assert_eq!(get(&Post, &m, "post_kind"), Value::Str("quote".into()));
}

#[test]
fn time_fields() {
    let mut m = mention();
    let v = run(&Timing, &m);
    let want = [
        ("time_hour_utc", Value::Int(13)),
        ("time_day_of_week", Value::Int(6)),
        ("time_weekend", Value::Bool(true)),
        ("time_minute_bucket", Value::Int((13 * 60 + 47) / 15)),
        ("time_day_of_month", Value::Int(7)),
        ("time_month", Value::Int(3)),
        ("time_collection_latency_s", Value::Float(2.5)),
        ("time_hour_of_week", Value::Int(5 * 24 + 13)),
    ];
    assert_eq!(v, want);
    m.collected_at = m.created_at - Duration::seconds(3);
    assert_eq!(float(get(&Timing, &m, "time_collection_latency_s")), -3.0);
}

#[test]
fn pending_profile_fields() {
    let mut m = mention();
    assert_eq!(get(&Profile, &m, "author_verified"), Value::Null);
    assert_eq!(
        get(&Profile, &m, "author_handle_custom_domain"),
        Value::Bool(false)
    );
    assert_eq!(get(&Profile, &m, "author_handle_separators"), Value::Int(1));
    m.author.verified = Some(true);
    m.author.display_name = Some("Jane Doe 🌻".into());
    assert_eq!(get(&Profile, &m, "author_verified"), Value::Bool(true));
    assert_eq!(get(&Profile, &m, "author_display_name_len"), Value::Int(10));
    assert_eq!(
        get(&Profile, &m, "author_display_name_has_emoji"),
        Value::Bool(true)
    );
    assert_eq!(
        get(&Profile, &m, "author_display_name_matches_handle"),
        Value::Bool(true)
    );
    m.author.display_name = Some("Someone Else".into());
    assert_eq!(
        get(&Profile, &m, "author_display_name_matches_handle"),
        Value::Bool(false)
    );
    m.author.handle = "jane.example.com".into();
    assert_eq!(
        get(&Profile, &m, "author_handle_custom_domain"),
        Value::Bool(true)
    );
    for h in ["jane@mastodon.social", "jane.bsky.social", "J.R.", "v1.2"] {
        m.author.handle = h.into();
        assert_eq!(
            get(&Profile, &m, "author_handle_custom_domain"),
            Value::Bool(false),
            "{h}"
        );
    }
    // Verification adds half a point of influence.
    let plain = influence_of(&mention());
    assert!((influence_of(&m) - plain - 0.5).abs() < 1e-12);
}

fn influence_of(m: &Mention) -> f64 {
    float(get(&Account, m, "author_influence"))
}

#[test]
fn pending_reach_and_attachment_fields() {
    let mut m = mention();
    m.engagement.quotes = Some(2);
    m.engagement.views = Some(4_200);
    assert_eq!(
        float(get(&Reach, &m, "engagement_view_rate")),
        42.0 / 4_200.0
    );
    assert_eq!(
        float(get(&Reach, &m, "engagement_views_per_follower")),
        4_200.0 / 1_500.0
    );
    m.kind = Kind::Repost;
    m.refs.conversation = Some("x:0".into());
    m.url = Some("https://x.com/jane_doe/status/1".into());
    m.media = vec![
        Media {
            kind: MediaKind::Image,
            url: "a".into(),
            alt_text: Some("a cat".into()),
        },
        Media {
            kind: MediaKind::Gif,
            url: "b".into(),
            alt_text: Some("  ".into()),
        },
        Media {
            kind: MediaKind::Image,
            url: "c".into(),
            alt_text: None,
        },
    ];
    m.geo = Some(Geo {
        country: Some("de".into()),
        ..Geo::default()
    });
    let v = run(&Attachments, &m);
    let want = [
        ("post_is_repost", Value::Bool(true)),
        ("post_is_quote", Value::Bool(false)),
        ("post_in_thread", Value::Bool(true)),
        ("post_has_url", Value::Bool(true)),
        ("media_count", Value::Int(3)),
        (
            "media_kinds",
            Value::StrList(vec!["image".into(), "gif".into()]),
        ),
        ("media_images", Value::Int(2)),
        ("media_videos", Value::Int(1)),
        ("media_alt_text_share", Value::Float(1.0 / 3.0)),
        ("geo_present", Value::Bool(true)),
        ("geo_country", Value::Str("DE".into())),
    ];
    assert_eq!(v, want);
}

/// Mentions whose metadata varies the way real sources do (the shared corpus does not yet).
fn varied() -> Vec<Mention> {
    (0..40u64)
        .map(|i| {
            let mut m = mention();
            m.kind = [
                Kind::Post,
                Kind::Reply,
                Kind::Repost,
                Kind::Quote,
                Kind::Comment,
            ][i as usize % 5];
            m.author.verified = [None, Some(true), Some(false)][i as usize % 3];
            m.author.display_name =
                (i % 4 != 0).then(|| ["Jane Doe", "🌻 garden", "Bob"][i as usize % 3].to_owned());
            m.author.handle =
                ["jane_doe", "jane.example.com", "bob", "x-y.z"][i as usize % 4].to_owned();
            m.engagement.quotes = (i % 2 == 0).then_some(i);
            m.engagement.views = (i % 3 != 0).then_some(i * 97);
            m.url = (i % 2 == 1).then(|| format!("https://x.com/s/{i}"));
            m.refs.conversation = (i % 3 == 1).then(|| "x:0".to_owned());
            m.refs.quote_of = (i % 7 == 1).then(|| "x:5".to_owned());
            let kinds = [MediaKind::Image, MediaKind::Video, MediaKind::Link];
            m.media = (0..i % 4)
                .map(|k| Media {
                    kind: kinds[((i + k) % 3) as usize],
                    url: format!("u{k}"),
                    alt_text: (k % 2 == 0).then(|| "alt".to_owned()),
                })
                .collect();
            m.geo = (i % 5 == 0).then(|| Geo {
                country: (i % 10 == 0).then(|| "fr".into()),
                ..Geo::default()
            });
            m
        })
        .collect()
}

/// The pending groups keep the catalogue's promises once their inputs vary: every field
/// written with its type, none constant.
#[test]
fn pending_groups_are_informative_on_varied_metadata() {
    for e in PENDING {
        let mut distinct = vec![std::collections::HashSet::new(); e.fields().len()];
        for m in varied() {
            for (i, (f, (_, v))) in e.fields().iter().zip(run(*e, &m)).enumerate() {
                match v.ty() {
                    None => assert!(f.nullable, "{} null", f.name),
                    Some(t) => assert_eq!(t, f.ty, "{}", f.name),
                }
                distinct[i].insert(serde_json::to_string(&v).expect("serialises"));
            }
        }
        for (f, d) in e.fields().iter().zip(&distinct) {
            assert!(d.len() >= 2, "{} is constant on varied metadata", f.name);
        }
    }
}

proptest! {
    #[test]
    fn any_metadata_gives_well_formed_fields(
        handle in "\\PC{0,40}",
        name in proptest::option::of("\\PC{0,40}"),
        counts in proptest::collection::vec(proptest::option::of(any::<u64>()), 8),
        created in -4_000_000_000i64..4_000_000_000,
        lag in -1_000_000i64..1_000_000_000,
        born in proptest::option::of(-4_000_000_000i64..4_000_000_000),
    ) {
        let mut m = mention();
        m.author.handle = handle;
        m.author.display_name = name;
        m.author.followers = counts[0];
        m.author.following = counts[1];
        m.author.posts = counts[2];
        m.engagement = Counts { likes: counts[3], reposts: counts[4], replies: counts[5], quotes: counts[6], views: counts[7] };
        m.created_at = DateTime::from_timestamp(created, 0).unwrap_or_default();
        m.collected_at = m.created_at + Duration::milliseconds(lag);
        m.author.created_at = born.and_then(|b| DateTime::from_timestamp(b, 0));
        for e in EXTRACTORS {
            for (f, (_, v)) in e.fields().iter().zip(run(*e, &m)) {
                match &v {
                    Value::Null => prop_assert!(f.nullable, "{} null", f.name),
                    Value::Float(x) => prop_assert!(x.is_finite(), "{} = {x}", f.name),
                    _ => prop_assert_eq!(v.ty(), Some(f.ty), "{}", f.name),
                }
            }
        }
    }
}

/// Prints µs per mention for all author/engagement/post/time groups over the real corpus. Run by
/// hand: `cargo test -p transforms --release --lib author::tests::speed_report -- --ignored --nocapture`
#[test]
#[ignore = "timing report, run by hand in release mode"]
fn speed_report() {
    let posts = crate::corpus::real_posts();
    let fields: usize = EXTRACTORS.iter().map(|e| e.fields().len()).sum();
    let mut slots = vec![Value::Null; fields];
    let per = crate::analysis::lang::tests::time_per_item(&posts, 10, |m| {
        let a = Analysis::new(m);
        let mut off = 0;
        for e in EXTRACTORS {
            let n = e.fields().len();
            e.extract(
                &a,
                &mut FieldWriter::new(&mut slots[off..off + n], e.fields()),
            );
            off += n;
        }
        std::hint::black_box(&slots);
    });
    println!("author+engagement+post+time ({fields} fields): {per:.3} µs/mention");
}
