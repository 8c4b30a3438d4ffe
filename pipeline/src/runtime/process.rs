//! Decode + enrich, one batch at a time, off the async threads: every message becomes either a
//! [`Stored`] mention (with the delivery it came from, kept for a dead letter should a write
//! refuse it) or a [`DeadLetter`] naming why not. Nothing here can fail the batch: bad input, a
//! record over a cap and a panicking transform each cost one message.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use model::{DecodeLimits, Mention, SignalMatch};
use transforms::dedup::cluster::{BANDS, band_keys_of_field};
use transforms::{EnrichedRef, Record as Fields};

use crate::config::EnrichedFormat;
use crate::telemetry;
use crate::traits::{Cache, ClusterProbe, Delivery, Stored};

/// What one mention may cost downstream; a mention over a cap is dead-lettered with the cap's
/// name as its reason, so a record a store or broker would refuse is never written.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub limits: DecodeLimits,
    pub format: EnrichedFormat,
    /// More matches than this: dead-lettered as `too_many_matches`.
    pub max_matches: usize,
    /// Highlights kept per match; the rest are dropped (the match stays).
    pub max_highlights: usize,
    /// A larger enriched record (Avro, or JSON when the topic carries JSON): `record_too_large`.
    pub max_record_bytes: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            limits: DecodeLimits::default(),
            format: EnrichedFormat::Avro,
            max_matches: 256,
            max_highlights: 32,
            max_record_bytes: 512 * 1024,
        }
    }
}

/// A message that could not be processed or written.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub reason: &'static str,
    pub detail: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    pub fn new(mut d: Delivery, reason: &'static str, detail: String) -> DeadLetter {
        DeadLetter {
            partition: d.partition,
            offset: d.offset,
            reason,
            detail,
            payload: d.take_payload(),
            key: d.key,
        }
    }
}

/// One processed batch.
#[derive(Debug, Default)]
pub struct Processed {
    pub stored: Arc<[Stored]>,
    /// The delivery each stored mention came from, in the same order: the payload a dead letter
    /// carries if the store or the broker refuses that mention.
    pub origins: Vec<Delivery>,
    pub dead: Vec<DeadLetter>,
    /// The near-duplicate band keys of each mention of `stored`, in the same order (`None`: its
    /// text has nothing to hash); [`assign_clusters`] turns them into `cluster_id`s.
    pub bands: Vec<Option<[u64; BANDS]>>,
    /// When the batch rewrites stored mentions (`backchannel reprocess`): what each mention of
    /// `stored` was filed under before, in the same order. Empty for new mentions.
    pub refiled: Vec<crate::traits::Filed>,
    /// Ids the sources deleted (tombstones), in order.
    pub deletes: Vec<String>,
    /// Highest offset per partition in the batch.
    pub positions: BTreeMap<i32, i64>,
    /// The batch's share of the in-flight byte budget, given back when the batch is done.
    pub budget: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Counts the batch in the in-flight gauge until it is committed (or dropped).
    pub in_flight: Option<telemetry::InFlight>,
}

thread_local! {
    static FIELDS: RefCell<Fields> = RefCell::new(Fields::new());
}

/// Field ids the runtime reads from every record, looked up once.
struct RuntimeFields {
    hashtags: usize,
    sentiment: usize,
    minhash: usize,
}

static RUNTIME_FIELDS: std::sync::LazyLock<RuntimeFields> =
    std::sync::LazyLock::new(|| RuntimeFields {
        hashtags: transforms::field_id("hashtags").expect("the catalogue has hashtags"),
        sentiment: transforms::field_id("sentiment_compound")
            .expect("the catalogue has sentiment_compound"),
        minhash: transforms::field_id("minhash_signature")
            .expect("the catalogue has minhash_signature"),
    });

/// Decodes and enriches one batch. CPU-bound: the pipeline runs it on its CPU threads
/// (`cpu.rs`), `reprocess` on the blocking pool.
pub fn process_batch(
    batch: Vec<Delivery>,
    caps: &Caps,
    matcher: Option<&transforms::signals::Matcher>,
) -> Processed {
    process_with(batch, caps, |m, fields| {
        transforms::enrich_and_match(m, fields, matcher)
    })
}

/// [`process_batch`] with the enrichment passed in (tests hand in one that panics).
fn process_with(
    batch: Vec<Delivery>,
    caps: &Caps,
    enrich: impl Fn(&Mention, &mut Fields) -> Vec<SignalMatch>,
) -> Processed {
    let mut out = Processed::default();
    let mut stored = Vec::with_capacity(batch.len());
    let mut dated_ahead = 0;
    FIELDS.with_borrow_mut(|fields| {
        for mut d in batch {
            let pos = out.positions.entry(d.partition).or_insert(d.offset);
            *pos = (*pos).max(d.offset);
            if d.tombstone {
                let limit = caps.limits.max_id_bytes;
                match d.key.as_deref().map(std::str::from_utf8) {
                    // No mention with a longer id is stored (it is dead-lettered), and a store
                    // may refuse the key outright (CQL's are at most 64 KiB), which would stop
                    // every worker that took the partition.
                    Some(Ok(id)) if id.len() > limit => {
                        let why = format!(
                            "a tombstone's key of {} bytes exceeds the id limit of {limit} bytes",
                            id.len()
                        );
                        out.dead.push(DeadLetter::new(d, "id_too_long", why));
                    }
                    Some(Ok(id)) if !id.trim().is_empty() => out.deletes.push(id.to_owned()),
                    _ => out.dead.push(DeadLetter::new(
                        d,
                        "not_a_mention",
                        "a tombstone without a mention id key".into(),
                    )),
                }
                continue;
            }
            // A mention carried in process is taken as it is (and goes back into its delivery
            // for a dead letter); a payload is decoded.
            let carried = d.mention.take();
            let in_process = carried.is_some();
            let decoded = match carried {
                Some(m) => match m.check(caps.limits) {
                    Ok(()) => Ok(m),
                    Err(e) => {
                        d.mention = Some(m);
                        Err(e)
                    }
                },
                None => Mention::decode(&d.payload, caps.limits).map(Box::new),
            };
            let mut m = match decoded {
                Ok(m) => m,
                Err(e) => {
                    out.dead.push(DeadLetter::new(d, e.reason(), e.to_string()));
                    continue;
                }
            };
            // Nothing is created after it was collected: a later `created_at` is a clock
            // running ahead (the source's, or a sender dating posts ahead on purpose). Taken as
            // it is, it would file the mention under a minute not begun, whose partition plans
            // are not final yet, and each such (topic, minute) costs a lightweight transaction.
            let created_at = m.created_at;
            if m.created_at > m.collected_at {
                m.created_at = m.collected_at;
                dated_ahead += 1;
            }
            // A panic in a transform costs this mention, not the worker. The record buffer may
            // be half-written, so it starts afresh.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                enrich_one(&m, fields, caps, &enrich)
            }));
            if in_process {
                // A dead letter carries the mention as it came.
                m.created_at = created_at;
                d.mention = Some(m);
            }
            match result {
                Ok(Ok(s)) => {
                    let bands = match fields.get(RUNTIME_FIELDS.minhash) {
                        transforms::Value::IntList(sig) => band_keys_of_field(sig),
                        _ => None,
                    };
                    stored.push(s);
                    out.bands.push(bands);
                    out.origins.push(d);
                }
                Ok(Err((reason, detail))) => out.dead.push(DeadLetter::new(d, reason, detail)),
                Err(panic) => {
                    *fields = Fields::new();
                    let detail = format!("a transform panicked: {}", panic_message(&*panic));
                    out.dead.push(DeadLetter::new(d, "transform_panic", detail));
                }
            }
        }
    });
    if dated_ahead > 0 {
        telemetry::dated_ahead(dated_ahead);
    }
    out.stored = stored.into();
    out
}

/// Enriches one decoded mention into what is stored, or says which cap it passed.
fn enrich_one(
    m: &Mention,
    fields: &mut Fields,
    caps: &Caps,
    enrich: &impl Fn(&Mention, &mut Fields) -> Vec<SignalMatch>,
) -> Result<Stored, (&'static str, String)> {
    let mut matches = enrich(m, fields);
    if matches.len() > caps.max_matches {
        return Err((
            "too_many_matches",
            format!(
                "matched {} signals; the limit is {} (pipeline.max_matches)",
                matches.len(),
                caps.max_matches
            ),
        ));
    }
    for s in &mut matches {
        s.highlights.truncate(caps.max_highlights);
    }
    let json = match caps.format {
        EnrichedFormat::Avro => None,
        EnrichedFormat::Json => {
            match serde_json::to_vec(&EnrichedRef::with_signals(m, fields, &matches)) {
                Ok(json) => Some(json),
                Err(e) => return Err(("unserialisable", e.to_string())),
            }
        }
    };
    let mut record = Vec::with_capacity(2048);
    transforms::avro::encode(m, fields, &matches, &mut record);
    let size = record.len().max(json.as_ref().map_or(0, Vec::len));
    if size > caps.max_record_bytes {
        return Err((
            "record_too_large",
            format!(
                "the enriched record is {size} bytes; the limit is {} (pipeline.max_record_bytes)",
                caps.max_record_bytes
            ),
        ));
    }
    let ids = &*RUNTIME_FIELDS;
    let hashtags = match fields.get(ids.hashtags) {
        transforms::Value::StrList(tags) => tags.clone(),
        _ => Vec::new(),
    };
    let sentiment = match fields.get(ids.sentiment) {
        transforms::Value::Float(x) => Some(*x),
        _ => None,
    };
    Ok(Stored {
        topics: topics(m, &hashtags, &matches),
        id: m.id.clone(),
        source: m.source,
        created_at: m.created_at,
        collected_at: m.collected_at,
        edited: m.edited_at.is_some(),
        sentiment,
        hashtags,
        fields_version: &transforms::registry().version,
        record,
        json,
    })
}

/// Gives each mention of a processed batch its near-duplicate cluster ([`Cache::clusters`]) and
/// writes it into the mention's record (and JSON form). A mention without band keys, or one the
/// index could not place, keeps a null `cluster_id`. Called in poll order, so clusters follow
/// the order mentions arrived in.
pub async fn assign_clusters<K: Cache>(out: &mut Processed, cache: &K) {
    if out.bands.len() != out.stored.len() || out.bands.iter().all(Option::is_none) {
        return;
    }
    let probes: Vec<(usize, ClusterProbe<'_>)> = out
        .stored
        .iter()
        .zip(&out.bands)
        .enumerate()
        .filter_map(|(i, (s, b))| b.map(|keys| (i, ClusterProbe { id: &s.id, keys })))
        .collect();
    let (at, probes): (Vec<usize>, Vec<ClusterProbe<'_>>) = probes.into_iter().unzip();
    let clusters = cache.clusters(&probes).await;
    drop(probes);
    let Some(stored) = Arc::get_mut(&mut out.stored) else {
        return; // shared already: nothing hands a batch on before this step
    };
    let (mut first, mut earlier, mut unplaced) = (0, 0, 0);
    for (i, cluster) in at.into_iter().zip(clusters) {
        let Some(cluster) = cluster else {
            unplaced += 1;
            continue;
        };
        let s = &mut stored[i];
        if *cluster == *s.id {
            first += 1;
        } else {
            earlier += 1;
        }
        set_cluster(s, &cluster);
    }
    telemetry::clustered(first, earlier, unplaced);
}

/// Writes `cluster` as the `cluster_id` of a mention just processed (its record, and its JSON
/// form if it has one).
pub fn set_cluster(s: &mut Stored, cluster: &str) {
    transforms::avro::set_cluster(&mut s.record, cluster);
    if let Some(json) = &mut s.json {
        set_json_cluster(json, cluster);
    }
}

/// Adds `"cluster_id"` to an EnrichedMention JSON object written without one.
fn set_json_cluster(json: &mut Vec<u8>, cluster: &str) {
    if json.last() != Some(&b'}') {
        return;
    }
    json.pop();
    json.extend_from_slice(br#","cluster_id":"#);
    // A string always serialises.
    let _ = serde_json::to_writer(&mut *json, cluster);
    json.push(b'}');
}

pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Most topics one mention is filed under (bounds write amplification from hashtag stuffing).
pub const MAX_TOPICS: usize = 8;

/// Longest hashtag filed as a topic, in bytes; a longer one stays in the record but is not a key.
pub const MAX_TOPIC_HASHTAG_BYTES: usize = 256;

/// The start of a signal's topic, `signal:<tenant>/<id>`: a mention is filed under one for each
/// signal it matched.
pub const SIGNAL_TOPIC: &str = "signal:";

/// The topic of tenant `tenant`'s signal `id`: `signal:<tenant>/<id>`.
pub fn signal_topic(tenant: &str, id: &str) -> String {
    [SIGNAL_TOPIC, tenant, "/", id].concat()
}

/// Whether `topic` is a signal's (see [`SIGNAL_TOPIC`]).
pub fn is_signal_topic(topic: &str) -> bool {
    topic.starts_with(SIGNAL_TOPIC)
}

/// The topics a mention is filed under: its source and its distinct hashtags (lower-cased, at
/// most [`MAX_TOPIC_HASHTAG_BYTES`] long), at most [`MAX_TOPICS`] of those, plus every signal it
/// matched (`signal:<tenant>/<id>`).
pub fn topics(m: &Mention, hashtags: &[String], signals: &[SignalMatch]) -> Vec<String> {
    // Built with one allocation a topic: this runs for every mention.
    let mut t = Vec::with_capacity(1 + hashtags.len().min(MAX_TOPICS - 1) + signals.len());
    t.push(["source:", m.source.as_str()].concat());
    for tag in hashtags {
        if t.len() >= MAX_TOPICS {
            break;
        }
        if tag.len() > MAX_TOPIC_HASHTAG_BYTES {
            continue;
        }
        let topic = if tag.is_ascii() {
            let mut topic = ["hashtag:", tag].concat();
            topic["hashtag:".len()..].make_ascii_lowercase();
            topic
        } else {
            ["hashtag:", &tag.to_lowercase()].concat()
        };
        if !t.contains(&topic) {
            t.push(topic);
        }
    }
    t.extend(
        signals
            .iter()
            .map(|s| signal_topic(s.signal.tenant(), s.signal.id())),
    );
    t
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A raw delivery of a minimal valid mention (also used by the sink's tests).
    pub(in crate::runtime) fn delivery(offset: i64, id: &str, text: &str) -> Delivery {
        let m = serde_json::json!({
            "id": id, "source": "mastodon", "kind": "post", "url": "https://example.social/1",
            "text": text, "lang_hint": "en",
            "author": {"id": "a1", "handle": "alice"},
            "created_at": "2026-01-01T00:00:00Z", "collected_at": "2026-01-01T00:00:01Z",
        });
        Delivery {
            partition: 0,
            offset,
            key: Some(id.as_bytes().to_vec()),
            payload: serde_json::to_vec(&m).expect("json"),
            tombstone: false,
            mention: None,
        }
    }

    /// A mention dated after it was collected is stored as created when collected; one dated
    /// before keeps its time. (The record carries the same time as the row.)
    #[test]
    fn a_mention_dated_after_its_collection_is_dated_as_collected() {
        let dated = |id: &str, created: &str| {
            let mut d = delivery(0, id, "text");
            let mut m: serde_json::Value = serde_json::from_slice(&d.payload).expect("json");
            m["created_at"] = created.into();
            d.payload = serde_json::to_vec(&m).expect("json");
            d
        };
        let batch = vec![
            dated("ahead", "2031-06-01T12:00:00Z"),
            dated("behind", "2025-12-31T23:59:00Z"),
        ];
        let out = process_batch(batch, &Caps::default(), None);
        assert!(out.dead.is_empty());
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("time");
        assert_eq!(out.stored[0].created_at, at("2026-01-01T00:00:01Z"));
        assert_eq!(out.stored[1].created_at, at("2025-12-31T23:59:00Z"));
        let mut json = Vec::new();
        transforms::avro::Layout::current()
            .to_json(&out.stored[0].record, &mut json)
            .expect("decodes");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            json["mention"]["created_at"].as_str().map(at),
            Some(at("2026-01-01T00:00:01Z"))
        );
    }

    #[test]
    fn a_panicking_transform_dead_letters_its_mention_and_the_batch_goes_on() {
        let batch = vec![
            delivery(1, "m1", "fine"),
            delivery(2, "boom", "this one panics"),
            delivery(3, "m3", "fine too"),
        ];
        let out = process_with(batch, &Caps::default(), |m, fields| {
            assert!(m.id != "boom", "a transform bug on {}", m.id);
            transforms::enrich_and_match(m, fields, None)
        });
        let ids: Vec<&str> = out.stored.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m3"]);
        assert_eq!(
            out.origins.iter().map(|d| d.offset).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(out.dead.len(), 1);
        assert_eq!(out.dead[0].reason, "transform_panic");
        assert_eq!(out.dead[0].offset, 2);
        assert!(
            out.dead[0].detail.contains("a transform bug on boom"),
            "{}",
            out.dead[0].detail
        );
        // The record after the panic is whole: same fields as one enriched on its own.
        let alone = process_batch(vec![delivery(3, "m3", "fine too")], &Caps::default(), None);
        assert_eq!(out.stored[1].record, alone.stored[0].record);
        assert_eq!(out.positions[&0], 3);
    }

    /// The same delivery with its mention carried in process instead of as JSON.
    fn carried(d: &Delivery) -> Delivery {
        let m: Mention = serde_json::from_slice(&d.payload).expect("a mention");
        Delivery {
            payload: Vec::new(),
            mention: Some(Box::new(m)),
            ..d.clone()
        }
    }

    /// A mention carried in process is stored exactly as its JSON would be; one that fails the
    /// decoder's checks, or whose transforms panic, is dead-lettered with the JSON of the mention
    /// as it came (its own `created_at`, not the one it was filed under); and the in-flight
    /// budget counts what it holds.
    #[test]
    fn a_mention_carried_in_process_is_taken_as_its_json_would_be() {
        let mut ahead = delivery(2, "ahead", "dated after its collection");
        let mut m: serde_json::Value = serde_json::from_slice(&ahead.payload).expect("json");
        m["created_at"] = "2031-06-01T12:00:00Z".into();
        ahead.payload = serde_json::to_vec(&m).expect("json");
        let mut no_author = delivery(3, "no-author", "text");
        let mut m: serde_json::Value = serde_json::from_slice(&no_author.payload).expect("json");
        m["author"]["id"] = " ".into();
        no_author.payload = serde_json::to_vec(&m).expect("json");
        let long_id = delivery(4, &"x".repeat(2_000), "text");
        let json = vec![
            delivery(
                1,
                "m1",
                "Loving the #rust release, @alice https://example.org",
            ),
            ahead.clone(),
            no_author.clone(),
            long_id.clone(),
            delivery(5, "boom", "this one panics"),
        ];
        let in_process: Vec<Delivery> = json.iter().map(carried).collect();
        for d in &in_process {
            assert!(d.held_bytes() > d.mention.as_ref().expect("carried").text.len() + 64);
        }
        let run = |batch| {
            process_with(batch, &Caps::default(), |m, fields| {
                assert!(m.id != "boom", "a transform bug");
                transforms::enrich_and_match(m, fields, None)
            })
        };
        let (a, b) = (run(json.clone()), run(in_process));
        assert_eq!(a.stored.len(), 2);
        for (x, y) in a.stored.iter().zip(b.stored.iter()) {
            assert_eq!(
                (&x.id, x.created_at, &x.topics),
                (&y.id, y.created_at, &y.topics)
            );
            assert_eq!(x.record, y.record, "the same record from either");
        }
        assert_eq!(b.stored.len(), 2);
        // Its origin keeps the mention as it came, for a dead letter made after the write.
        let origin = b.origins[1].clone();
        let letter = DeadLetter::new(origin, "test", String::new());
        let came: Mention = serde_json::from_slice(&ahead.payload).expect("mention");
        let sent: Mention = serde_json::from_slice(&letter.payload).expect("mention");
        assert_eq!(sent, came);
        let reasons = |p: &Processed| p.dead.iter().map(|d| d.reason).collect::<Vec<_>>();
        assert_eq!(
            reasons(&a),
            ["not_a_mention", "id_too_long", "transform_panic"]
        );
        assert_eq!(reasons(&b), reasons(&a));
        for (x, y) in a.dead.iter().zip(&b.dead) {
            let x: Mention = serde_json::from_slice(&x.payload).expect("mention");
            let y: Mention = serde_json::from_slice(&y.payload).expect("mention");
            assert_eq!(x, y, "the dead letter carries the mention");
        }
    }

    #[test]
    fn caps_dead_letter_with_their_reason() {
        let caps = Caps {
            max_record_bytes: 4096,
            max_matches: 2,
            max_highlights: 1,
            limits: DecodeLimits {
                max_id_bytes: 8,
                ..DecodeLimits::default()
            },
            ..Caps::default()
        };
        let signal = |n: usize| model::SignalMatch {
            signal: model::SignalId::new("t", &format!("s{n}")),
            version: 1,
            highlights: [[0, 1], [2, 3], [4, 5]].into_iter().collect(),
        };
        let tombstone = |offset: i64, key: &str| Delivery {
            tombstone: true,
            payload: Vec::new(),
            ..delivery(offset, key, "")
        };
        let batch = vec![
            delivery(1, "long-id-123", "x"),
            delivery(2, "big", &"word ".repeat(2000)),
            delivery(3, "many", "three matches"),
            delivery(4, "two", "two matches"),
            tombstone(5, "long-id-123"),
            tombstone(6, "gone"),
        ];
        let out = process_with(batch, &caps, |m, fields| {
            transforms::enrich_and_match(m, fields, None);
            let n = if m.id == "many" { 3 } else { 2 };
            (0..n).map(signal).collect()
        });
        let reasons: Vec<(i64, &str)> = out.dead.iter().map(|d| (d.offset, d.reason)).collect();
        assert_eq!(
            reasons,
            [
                (1, "id_too_long"),
                (2, "record_too_large"),
                (3, "too_many_matches"),
                (5, "id_too_long")
            ]
        );
        assert_eq!(
            out.deletes,
            ["gone"],
            "a tombstone within the limit deletes"
        );
        assert_eq!(out.stored.len(), 1);
        let stored = &out.stored[0];
        assert_eq!(stored.id, "two");
        assert_eq!(
            stored.topics.iter().filter(|t| is_signal_topic(t)).count(),
            2
        );
        // Highlights were cut to one per match: the record decodes with one each.
        let mut json = Vec::new();
        transforms::avro::Layout::current()
            .to_json(&stored.record, &mut json)
            .expect("decodes");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
        for s in json["signals"].as_array().expect("signals") {
            assert_eq!(s["highlights"].as_array().map(Vec::len), Some(1), "{s}");
        }
    }

    /// The `cluster_id` a stored record reads back with.
    fn cluster_of(s: &Stored) -> Option<String> {
        let mut json = Vec::new();
        transforms::avro::Layout::current()
            .to_json(&s.record, &mut json)
            .expect("decodes");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        v.get("cluster_id")
            .and_then(|c| c.as_str())
            .map(str::to_owned)
    }

    #[tokio::test]
    async fn near_duplicates_share_the_first_ones_cluster_in_record_and_json() {
        let template = "Flash sale this weekend only: fifty percent off every pair of running \
                        shoes at our downtown store, come early before the sizes run out";
        let batch = vec![
            delivery(1, "first", &format!("{template} https://shop.example/a")),
            delivery(
                2,
                "other",
                "Quarterly earnings beat expectations on cloud revenue",
            ),
            delivery(3, "copy", &format!("@friend {template} https://t.co/xyz")),
            delivery(4, "empty", "🙂🙂 !!!"),
            // One word changed in 24: still the same template.
            delivery(5, "edited", &template.replace("downtown", "uptown")),
        ];
        let caps = Caps {
            format: EnrichedFormat::Json,
            ..Caps::default()
        };
        let cache = crate::embedded::MemoryCache::new(1 << 20, std::time::Duration::from_secs(60));
        let mut out = process_batch(batch, &caps, None);
        assert_eq!(out.bands.len(), out.stored.len());
        assert_eq!(out.bands[3], None, "nothing to hash: no bands");
        assign_clusters(&mut out, &cache).await;
        let got: Vec<Option<String>> = out.stored.iter().map(cluster_of).collect();
        let first = Some("first".to_owned());
        assert_eq!(
            got,
            [
                first.clone(),
                Some("other".into()),
                first.clone(),
                None,
                first.clone()
            ]
        );
        // The JSON form says the same (and stays one valid object).
        for (s, want) in out.stored.iter().zip(&got) {
            let v: serde_json::Value =
                serde_json::from_slice(s.json.as_deref().expect("json form")).expect("json");
            assert_eq!(
                v.get("cluster_id").and_then(|c| c.as_str()),
                want.as_deref()
            );
        }
        // A later batch, and a replay, find the same cluster.
        let mut later = process_batch(
            vec![
                delivery(6, "late", &format!("{template} #sale")),
                delivery(3, "copy", &format!("@friend {template} https://t.co/xyz")),
            ],
            &Caps::default(),
            None,
        );
        assign_clusters(&mut later, &cache).await;
        let got: Vec<Option<String>> = later.stored.iter().map(cluster_of).collect();
        assert_eq!(got, [first.clone(), first]);
    }

    #[test]
    fn giant_hashtags_are_not_keys() {
        let m: Mention = serde_json::from_slice(&delivery(1, "m", "x").payload).expect("a mention");
        let long = "a".repeat(MAX_TOPIC_HASHTAG_BYTES + 1);
        let t = topics(&m, &[long, "Rust".into()], &[]);
        assert_eq!(t, ["source:mastodon", "hashtag:rust"]);
    }

    /// Hashtags are filed lower-cased (Unicode too), once each, at most [`MAX_TOPICS`] topics
    /// besides the signals, which are all filed.
    #[test]
    fn topics_are_lower_cased_distinct_and_capped() {
        let m: Mention = serde_json::from_slice(&delivery(1, "m", "x").payload).expect("a mention");
        let tags: Vec<String> = ["ÉTÉ", "Rust", "rust", "ΣΟΦΊΑ"]
            .into_iter()
            .map(String::from)
            .chain((0..10).map(|i| format!("Tag{i}")))
            .collect();
        let signals: Vec<SignalMatch> = ["a", "b"]
            .into_iter()
            .map(|s| {
                serde_json::from_value(
                    serde_json::json!({"tenant": "acme", "signal": s, "version": 1}),
                )
                .expect("a match")
            })
            .collect();
        let t = topics(&m, &tags, &signals);
        assert_eq!(
            t,
            [
                "source:mastodon",
                "hashtag:été",
                "hashtag:rust",
                "hashtag:σοφία",
                "hashtag:tag0",
                "hashtag:tag1",
                "hashtag:tag2",
                "hashtag:tag3",
                "signal:acme/a",
                "signal:acme/b",
            ]
        );
        assert_eq!(t.len(), MAX_TOPICS + signals.len());
    }
}
