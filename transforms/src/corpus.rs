//! The realistic corpus the tests and benches share: real social posts (Reddit, X, Bluesky; see
//! `tests/fixtures/LICENSE.md` for each row's licence), turned into Mentions.
//!
//! Test and bench support, not part of the pipeline: it reads a file, so it is compiled only for
//! this crate's tests and with the `corpus` feature (which `benches` turns on).

use chrono::{DateTime, Utc};
use model::{Author, Kind, Mention, Source};

/// Path of the committed corpus file.
pub const REAL_POSTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/real_posts.jsonl"
);

/// Loads the real posts as Mentions. Panics if the committed fixture is missing or malformed,
/// which is a broken checkout, not bad input.
pub fn real_posts() -> Vec<Mention> {
    let text =
        std::fs::read_to_string(REAL_POSTS).expect("tests/fixtures/real_posts.jsonl is readable");
    text.lines()
        .enumerate()
        .map(|(i, l)| row_to_mention(i, l))
        .collect()
}

fn row_to_mention(i: usize, line: &str) -> Mention {
    let row: serde_json::Value = serde_json::from_str(line).expect("fixture rows are JSON");
    let src = row["source"].as_str().unwrap_or_default();
    let source = match src.split('/').next() {
        Some("reddit") => Source::Reddit,
        Some("bluesky") => Source::Bluesky,
        _ => Source::X,
    };
    // Spread creation times over a week so time fields vary; deterministic by row.
    let base = DateTime::<Utc>::from_timestamp(1_764_000_000, 0).unwrap_or_default();
    let created_at = base + chrono::Duration::seconds((i as i64 * 7_919) % 604_800);
    Mention {
        id: format!(
            "{}:{}",
            source.as_str(),
            row["id"].as_str().unwrap_or_default()
        ),
        source,
        kind: if source == Source::Reddit && !i.is_multiple_of(3) {
            Kind::Comment
        } else {
            [
                Kind::Post,
                Kind::Post,
                Kind::Reply,
                Kind::Quote,
                Kind::Repost,
            ][i % 5]
        },
        url: i
            .is_multiple_of(2)
            .then(|| format!("https://example.com/p/{i}")),
        created_at,
        collected_at: created_at + chrono::Duration::milliseconds(250 + (i as i64 % 5_000)),
        edited_at: None,
        text: row["text"].as_str().unwrap_or_default().to_owned(),
        lang_hint: (source == Source::X && i.is_multiple_of(4))
            .then(|| ["en", "en-US", "es", "und"][i / 4 % 4].to_owned()),
        author: Author {
            id: format!("a{}", i % 997),
            handle: match i % 4 {
                0 => format!("user{}", i % 997),
                1 => format!("user_{}.example.org", i % 997),
                2 => format!("User{}", i % 997),
                _ => format!("the-user{}", i % 997),
            },
            display_name: (!i.is_multiple_of(3))
                .then(|| [format!("User {}", i % 997), format!("🌻 Garden {i}")][i % 2].clone()),
            verified: [None, Some(false), Some(true)][i % 3],
            followers: Some((i as u64 * 2_654_435_761) % 250_000),
            following: Some((i as u64 * 40_503) % 3_000),
            posts: Some((i as u64 * 97) % 50_000),
            created_at: Some(base - chrono::Duration::days((i as i64 * 31) % 4_000)),
        },
        engagement: model::Engagement {
            likes: Some((i as u64 * 13) % 900),
            reposts: Some((i as u64 * 7) % 120),
            replies: Some((i as u64 * 3) % 60),
            quotes: i.is_multiple_of(2).then_some((i as u64 * 5) % 40),
            views: i.is_multiple_of(3).then_some((i as u64 * 101) % 90_000),
        },
        refs: model::References {
            reply_to: (i % 5 == 2).then(|| format!("x:{}", i - 1)),
            conversation: (i % 5 == 2).then(|| format!("x:{}", i / 10)),
            quote_of: (i % 5 == 3).then(|| format!("x:{}", i / 2)),
            repost_of: (i % 5 == 4).then(|| format!("x:{}", i / 3)),
        },
        media: (0..i % 4)
            .map(|k| model::Media {
                kind: [
                    model::MediaKind::Image,
                    model::MediaKind::Video,
                    model::MediaKind::Link,
                ][(i + k) % 3],
                url: format!("https://example.com/m/{i}/{k}"),
                alt_text: (k % 2 == 0).then(|| "alt".to_owned()),
            })
            .collect(),
        geo: i.is_multiple_of(7).then(|| model::Geo {
            country: i.is_multiple_of(14).then(|| "US".to_owned()),
            ..Default::default()
        }),
        raw: None,
        extra: Default::default(),
    }
}
