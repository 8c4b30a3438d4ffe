//! The hub: the replay buffer, the live subscribers, and each connection's position.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;
use transforms::avro::Layout;

use super::Cursor;
use super::provisional::{Counted, Provisional};

/// Entries a catch-up step takes from the buffer at once (the lock is held while it scans).
const PULL_MAX: usize = 256;
/// Buffer entries one pull looks at under the hub's lock, matching or not: a client whose
/// signals rarely match walks the buffer in steps of this many, so ingest (which needs the
/// lock) never waits on a walk through the whole buffer.
const PULL_SCAN: usize = 4096;
/// What an entry costs besides its bytes (the `Arc`, the deque slot, the small vectors).
const ENTRY_OVERHEAD: usize = 160;

/// How much the hub keeps and how far a connection may fall behind.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Bytes of matched entries kept for replay, at most.
    pub replay_bytes: usize,
    /// Age of the oldest entry kept for replay.
    pub replay_window: Duration,
    /// Entries queued to one live connection; one more detaches it (it then catches up).
    pub client_buffer: usize,
    /// Bytes of entries queued to one live connection, likewise.
    pub client_buffer_bytes: usize,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            replay_bytes: 64 << 20,
            replay_window: Duration::from_secs(3600),
            client_buffer: 1024,
            client_buffer_bytes: 4 << 20,
        }
    }
}

/// One matched mention at its position in the enriched topic.
#[derive(Debug)]
pub struct Entry {
    /// This hub's own order (not shared between instances: cursors carry positions instead).
    seq: u64,
    pub partition: i32,
    pub offset: i64,
    at: Instant,
    /// Whether it was in the topic when following began ([`Hub::history_until`]): in the
    /// buffer for clients that resume, never news for one that connected without a cursor.
    history: bool,
    /// The mention as events show it: a JSON object.
    mention: Box<str>,
    matches: Vec<Match>,
    /// The record as ingested, read again only for the fields a client asks for.
    record: Box<[u8]>,
    size: usize,
}

#[derive(Debug)]
struct Match {
    tenant: Box<str>,
    signal: Box<str>,
    /// `{"signal":…,"version":…,"highlights":…}`: no tenant, it is the reader's own.
    json: Box<str>,
}

/// What one connection wants: its tenant's matches, of some signals or all, with some fields.
#[derive(Debug, Clone)]
pub struct Filter {
    pub tenant: Arc<str>,
    /// `None`: every signal of the tenant.
    pub signals: Option<Vec<String>>,
    /// Catalogue fields to include in each event.
    pub fields: Vec<String>,
}

impl Filter {
    fn wants(&self, e: &Entry) -> bool {
        e.matches.iter().any(|m| self.owns(m))
    }

    fn owns(&self, m: &Match) -> bool {
        *m.tenant == *self.tenant
            && self
                .signals
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| **x == *m.signal))
    }
}

impl Entry {
    /// The `match` event of this entry for `filter`'s reader at `cursor`, as JSON. Only the
    /// reader's own signals appear.
    pub fn event(&self, filter: &Filter, cursor: &Cursor, layout: &Layout) -> String {
        let mut out = String::with_capacity(self.mention.len() + 256);
        out.push_str(r#"{"type":"match","cursor":""#);
        out.push_str(&cursor.to_string());
        out.push_str(r#"","mention":"#);
        out.push_str(&self.mention);
        out.push_str(r#","signals":["#);
        for (i, m) in self.matches.iter().filter(|m| filter.owns(m)).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&m.json);
        }
        out.push(']');
        if !filter.fields.is_empty() {
            let picked: serde_json::Map<String, Value> = filter
                .fields
                .iter()
                .cloned()
                .zip(fields_of(&self.record, layout, &filter.fields))
                .collect();
            out.push_str(r#","fields":"#);
            out.push_str(&Value::Object(picked).to_string());
        }
        out.push('}');
        out
    }
}

/// The values of catalogue fields `names` in a record, compact Avro or JSON: null for a name
/// the record lacks, and for every name of a record that cannot be read.
fn fields_of(record: &[u8], layout: &Layout, names: &[String]) -> Vec<Value> {
    if record.first() == Some(&b'{') {
        #[derive(serde::Deserialize)]
        struct Only {
            #[serde(default)]
            fields: serde_json::Map<String, Value>,
        }
        let all = serde_json::from_slice::<Only>(record)
            .map(|o| o.fields)
            .unwrap_or_default();
        return names
            .iter()
            .map(|n| all.get(n).cloned().unwrap_or_default())
            .collect();
    }
    // Each name's position (an unknown name reads as absent), in the layout's order.
    let known: Vec<(usize, usize)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, layout.field_index(n)?)))
        .collect();
    let picks: Vec<usize> = known.iter().map(|&(_, p)| p).collect();
    let mut out = vec![Value::Null; names.len()];
    if let Ok(values) = layout.fields_of(record, &picks) {
        for ((i, _), v) in known.iter().zip(values) {
            out[*i] = v;
        }
    }
    out
}

/// What the hub takes from a matched record.
struct Parsed {
    /// The mention's JSON, as events show it.
    mention: Box<str>,
    matches: Vec<Match>,
    /// What the series count, when the hub counts minutes (and the record has a `created_at`).
    counted: Option<Counted>,
}

/// The parts of a matched record the hub keeps; `None` when it matched no signal.
fn parse(
    record: &[u8],
    layout: &Layout,
    stored_at: Option<&[u8]>,
    counting: Option<&[usize]>,
) -> Result<Option<Parsed>, String> {
    // One pass over a compact record: an unmatched one rarely gets here, since writers mark it
    // in the `matched` header, which the hub's feeders read first.
    let doc: Envelope = if record.first() == Some(&b'{') {
        serde_json::from_slice(record).map_err(|e| e.to_string())?
    } else {
        let e = layout
            .envelope(record, counting.unwrap_or_default())
            .map_err(|e| e.to_string())?;
        Envelope::of_compact(e, counting.is_some()).map_err(|e| e.to_string())?
    };
    let signals = doc.signals.as_array();
    let Some(signals) = signals.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut matches = Vec::with_capacity(signals.len());
    for s in signals {
        let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
        let mut own = serde_json::Map::new();
        own.insert("signal".into(), text("signal").into());
        own.insert(
            "version".into(),
            s.get("version").cloned().unwrap_or_default(),
        );
        own.insert(
            "highlights".into(),
            s.get("highlights")
                .cloned()
                .unwrap_or_else(|| Value::Array(Vec::new())),
        );
        matches.push(Match {
            tenant: text("tenant").into(),
            signal: text("signal").into(),
            json: Value::Object(own).to_string().into(),
        });
    }
    let m = doc.mention.as_ref().ok_or("no mention")?;
    let author = &m.author;
    let mut mention = serde_json::json!({
        "id": m.id,
        "source": m.source,
        "url": m.url,
        "text": m.text,
        "author": {
            "handle": author.get("handle"),
            "name": author.get("display_name"),
        },
        "created_at": m.created_at,
        // When the collector took it: what freshness is measured from.
        "collected_at": m.collected_at,
        // When the store acknowledged it (the worker's clock; the record's `stored_at`
        // header): storage→client latency is measured from it.
        "stored_at": stored_at.and_then(|s| std::str::from_utf8(s).ok()),
        // Clients fold a reposted template's copies on it.
        "cluster_id": doc.cluster_id,
    });
    if !m.edited_at.is_null() {
        // A later version of a mention the client may already show: it replaces that one.
        mention["edited_at"] = m.edited_at.clone();
    }
    // An edit was counted as its first version: the minute's exact figure counts it once too.
    let counted = counting
        .filter(|_| m.edited_at.is_null())
        .and_then(|_| counted(&doc));
    Ok(Some(Parsed {
        mention: mention.to_string().into(),
        matches,
        counted,
    }))
}

/// The parts of an enriched record (its JSON form) that the hub reads. Every other key, the
/// catalogue's ~300 fields among them, is stepped over without being built: the hub reads every
/// matched record.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    mention: Option<MentionPart>,
    #[serde(default)]
    fields: FieldsPart,
    #[serde(default)]
    signals: Value,
    #[serde(default)]
    cluster_id: Value,
}

impl Envelope {
    /// The same parts of a compact record, read by the layout without its JSON form; with
    /// `counting`, its picks are [`COUNTED_FIELDS`].
    fn of_compact(
        e: transforms::avro::read::Envelope,
        counting: bool,
    ) -> serde_json::Result<Envelope> {
        // Only the keys an event shows: the whole mention would serialise its raw payload too.
        let m = e.mention;
        let mention = MentionPart {
            id: Value::String(m.id),
            source: serde_json::to_value(m.source)?,
            url: m.url.map_or(Value::Null, Value::String),
            text: Value::String(m.text),
            author: serde_json::json!({
                "handle": m.author.handle,
                "display_name": m.author.display_name,
            }),
            created_at: serde_json::to_value(m.created_at)?,
            collected_at: serde_json::to_value(m.collected_at)?,
            edited_at: serde_json::to_value(m.edited_at)?,
        };
        let mut picked = e.picked.into_iter();
        let fields = if counting {
            FieldsPart {
                sentiment_compound: picked.next().unwrap_or_default(),
                hashtags: picked.next().unwrap_or_default(),
            }
        } else {
            FieldsPart::default()
        };
        Ok(Envelope {
            mention: Some(mention),
            fields,
            signals: serde_json::to_value(&e.signals)?,
            cluster_id: e.cluster_id.map_or(Value::Null, Value::String),
        })
    }
}

/// The catalogue fields a provisional minute counts, as [`FieldsPart`] holds them.
const COUNTED_FIELDS: [&str; 2] = ["sentiment_compound", "hashtags"];

/// The mention's keys a `match` event shows.
#[derive(serde::Deserialize)]
struct MentionPart {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    source: Value,
    #[serde(default)]
    url: Value,
    #[serde(default)]
    text: Value,
    #[serde(default)]
    author: Value,
    #[serde(default)]
    created_at: Value,
    #[serde(default)]
    collected_at: Value,
    #[serde(default)]
    edited_at: Value,
}

/// The catalogue fields a provisional minute counts.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FieldsPart {
    sentiment_compound: Value,
    hashtags: Value,
}

/// A record's minute, sentiment and hashtags, as the store's aggregates take them from
/// [`crate::traits::Stored`]; `None` without a readable `created_at`.
fn counted(doc: &Envelope) -> Option<Counted> {
    let created_at = doc
        .mention
        .as_ref()
        .and_then(|m| m.created_at.as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())?
        .with_timezone(&chrono::Utc);
    Some(Counted {
        created_at,
        sentiment: doc.fields.sentiment_compound.as_f64(),
        hashtags: doc
            .fields
            .hashtags
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

struct Live {
    id: u64,
    filter: Arc<Filter>,
    queue: Arc<Queue>,
}

/// One live connection's queue: filled by ingest, emptied by the connection. Shared rather than
/// a channel, so that a connection detached for falling behind gives its entries back at once:
/// one whose client stopped reading with its socket still open is never polled again, and would
/// otherwise hold them (evicted from the buffer or not) for as long as the socket lives.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    /// Detached: nothing more is queued, and the connection catches up from the buffer.
    closed: bool,
}

/// What [`Queue::push`] did.
#[derive(Debug, PartialEq, Eq)]
enum Queued {
    Yes,
    /// Past the connection's limits: the queue was emptied and closed.
    Full,
    Closed,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `e` if the queue stays within `max` entries and `max_bytes` (an empty queue takes
    /// any one entry); otherwise empties and closes it.
    fn push(&self, e: Arc<Entry>, max: usize, max_bytes: usize) -> Queued {
        let mut s = self.state();
        if s.closed {
            return Queued::Closed;
        }
        let was_empty = s.entries.is_empty();
        let full =
            !was_empty && (s.entries.len() >= max || s.bytes.saturating_add(e.size) > max_bytes);
        if full {
            s.entries = VecDeque::new();
            s.bytes = 0;
            s.closed = true;
        } else {
            s.bytes += e.size;
            s.entries.push_back(e);
        }
        drop(s);
        // The connection waits only after it found the queue empty (under the lock, with its
        // wakeup already enabled), so only a push into an empty queue, or the close, can be
        // what it waits for.
        if was_empty || full {
            self.ready.notify_one();
        }
        if full { Queued::Full } else { Queued::Yes }
    }

    /// The next entry; `None` once the queue is closed and empty. Cancel-safe.
    async fn recv(&self) -> Option<Arc<Entry>> {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut s = self.state();
                if let Some(e) = s.entries.pop_front() {
                    s.bytes -= e.size;
                    return Some(e);
                }
                if s.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    fn is_empty(&self) -> bool {
        self.state().entries.is_empty()
    }
}

#[derive(Default)]
struct Inner {
    buffer: VecDeque<Arc<Entry>>,
    bytes: usize,
    next_seq: u64,
    /// The last offset ingested, per partition.
    frontier: Cursor,
    /// Per partition: entries at or below this offset may be missing from the buffer (evicted,
    /// or before this hub started).
    floor: Cursor,
    /// Per partition, the last offset that was in the topic when following began: history, not
    /// news. A client without a cursor starts after it, even while the hub is still reading up
    /// to it.
    history: Cursor,
    live: Vec<Live>,
    next_id: u64,
}

impl Inner {
    /// Moves the frontier to `offset` of `partition`; false if the hub is already past it (a
    /// consumer that re-reads). A partition's first position also sets its floor below it.
    fn take_position(&mut self, partition: i32, offset: i64) -> bool {
        if self.frontier.contains(partition) {
            if offset <= self.frontier.get(partition) {
                return false;
            }
        } else {
            self.floor.advance(partition, offset - 1);
        }
        self.frontier.advance(partition, offset);
        true
    }

    fn front_seq(&self) -> u64 {
        self.buffer.front().map_or(self.next_seq, |e| e.seq)
    }

    fn evict(&mut self, s: &HubSettings, now: Instant) {
        while let Some(e) = self.buffer.front() {
            let old = now.saturating_duration_since(e.at) > s.replay_window;
            if !old && self.bytes <= s.replay_bytes {
                break;
            }
            self.floor.advance(e.partition, e.offset);
            self.bytes -= e.size;
            self.buffer.pop_front();
        }
    }
}

/// An alert event for live streams: the tenant and signal it belongs to and its JSON
/// (`{"type":"alert","alert":{…}}`).
#[derive(Debug)]
pub struct AlertEvent {
    pub tenant: Box<str>,
    pub signal: Box<str>,
    pub json: Box<str>,
}

impl Filter {
    /// Whether this reader wants `alert` (its tenant, one of its signals).
    pub fn wants_alert(&self, alert: &AlertEvent) -> bool {
        *alert.tenant == *self.tenant
            && self
                .signals
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| **x == *alert.signal))
    }
}

/// Alert events a slow stream may fall behind by before it skips some (they stay listable).
const ALERT_BUFFER: usize = 256;

/// The fan-out point: one per serving process.
pub struct Hub {
    settings: HubSettings,
    layout: Layout,
    inner: Mutex<Inner>,
    /// Alerts are pushed live only: rare, small, and stored for listing, so a client that was
    /// away reads them from `GET /v1/signals/{id}/alerts` rather than from a replay buffer.
    alerts: tokio::sync::broadcast::Sender<Arc<AlertEvent>>,
    /// The series minutes counted from the stream (`backchannel serve` only), and where the
    /// fields they count are in this build's compact records.
    provisional: Option<(Provisional, Vec<usize>)>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("settings", &self.settings)
            .finish()
    }
}

/// What a catch-up step found.
enum Pulled {
    /// Entries from the buffer; more may follow. The `u64` is the next seq to scan.
    More(Vec<Arc<Entry>>, u64),
    /// The last entries from the buffer, and the live feed from there on.
    Live(Vec<Arc<Entry>>, u64, u64, Arc<Queue>),
    /// The buffer no longer holds everything after the position; it starts after this.
    Expired(Cursor),
}

impl Hub {
    pub fn new(settings: HubSettings) -> Hub {
        Hub {
            settings,
            layout: Layout::current(),
            inner: Mutex::default(),
            alerts: tokio::sync::broadcast::channel(ALERT_BUFFER).0,
            provisional: None,
        }
    }

    /// This hub also counts every matched mention into its signals' latest minutes
    /// ([`Provisional`]): for a serving process whose store rolls series up after the fact.
    pub fn counting_minutes(mut self) -> Hub {
        let picks = COUNTED_FIELDS
            .iter()
            .map(|f| {
                self.layout
                    .field_index(f)
                    .expect("the catalogue has the counted fields")
            })
            .collect();
        self.provisional = Some((Provisional::default(), picks));
        self
    }

    /// The minutes counted from the stream, when this hub counts them.
    pub fn provisional(&self) -> Option<&Provisional> {
        self.provisional.as_ref().map(|(p, _)| p)
    }

    /// Sends an alert (the JSON of [`crate::alerts::Alert`]) to the live streams that want it.
    /// Unreadable JSON is counted and dropped.
    pub fn alert(&self, payload: &[u8]) {
        let Ok(alert) = serde_json::from_slice::<crate::alerts::Alert>(payload) else {
            crate::telemetry::push_undecodable();
            return;
        };
        let json = serde_json::json!({ "type": "alert", "alert": alert }).to_string();
        // No live stream is fine.
        let _ = self.alerts.send(Arc::new(AlertEvent {
            tenant: alert.tenant.into(),
            signal: alert.signal.into(),
            json: json.into(),
        }));
    }

    /// The live feed of alerts, from now on.
    pub fn alerts(&self) -> tokio::sync::broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts.subscribe()
    }

    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares that `partition` is followed from `next_offset` on: a cursor below it names
    /// records this hub never saw (`lagged`), one at it is current. Ignored for a partition
    /// already ingested.
    pub fn begin(&self, partition: i32, next_offset: i64) {
        let mut inner = self.lock();
        if !inner.frontier.contains(partition) {
            inner.frontier.advance(partition, next_offset - 1);
            inner.floor.advance(partition, next_offset - 1);
        }
    }

    /// Declares that `partition` held records up to `last_offset` when following began: the
    /// hub reads them into its buffer for clients that resume, but a client that connects
    /// without a cursor is given only what comes after them.
    pub fn history_until(&self, partition: i32, last_offset: i64) {
        self.lock().history.advance(partition, last_offset);
    }

    /// Moves past a record that is not for clients (a reprocessed mention's rewrite: its
    /// clients saw it when it was new; one whose `matched` header says it matched no signal),
    /// so the hub's position still covers its offset, without reading the record.
    pub fn pass(&self, partition: i32, offset: i64) {
        let mut inner = self.lock();
        if inner.take_position(partition, offset) {
            inner.evict(&self.settings, Instant::now());
        }
    }

    /// Takes one enriched record at its position; fans a matched one out to the interested
    /// live connections. Never waits for a client; never blocks on I/O. A position at or below
    /// one already ingested in its partition is ignored (a consumer that re-reads).
    /// `stored_at` is the record's `stored_at` header (when the store took it), if it has one.
    pub fn ingest(&self, partition: i32, offset: i64, record: &[u8], stored_at: Option<&[u8]>) {
        let counting = self.provisional.as_ref().map(|(_, picks)| picks.as_slice());
        let parsed = match parse(record, &self.layout, stored_at, counting) {
            Ok(p) => p,
            Err(e) => {
                crate::telemetry::push_undecodable();
                tracing::debug!(error = %e, partition, offset, "an enriched record the hub cannot read");
                None
            }
        };
        let now = Instant::now();
        let mut inner = self.lock();
        if !inner.take_position(partition, offset) {
            return;
        }
        let Some(Parsed {
            mention,
            matches,
            counted,
        }) = parsed
        else {
            inner.evict(&self.settings, now);
            return;
        };
        if let (Some((p, _)), Some(c)) = (&self.provisional, &counted) {
            let topics: Vec<String> = matches
                .iter()
                .map(|m| crate::runtime::signal_topic(&m.tenant, &m.signal))
                .collect();
            p.count(topics.iter().map(String::as_str), c, chrono::Utc::now());
        }
        let size = ENTRY_OVERHEAD
            + record.len()
            + mention.len()
            + matches
                .iter()
                .map(|m| m.tenant.len() + m.signal.len() + m.json.len() + 64)
                .sum::<usize>();
        let entry = Arc::new(Entry {
            seq: inner.next_seq,
            partition,
            offset,
            at: now,
            history: offset <= inner.history.get(partition),
            mention,
            matches,
            record: record.into(),
            size,
        });
        inner.next_seq += 1;
        inner.bytes += size;
        inner.buffer.push_back(entry.clone());
        inner.evict(&self.settings, now);
        crate::telemetry::push_buffer_bytes(inner.bytes);
        let (max, max_bytes) = (
            self.settings.client_buffer,
            self.settings.client_buffer_bytes,
        );
        inner.live.retain(|l| {
            if !l.filter.wants(&entry) {
                return true;
            }
            match l.queue.push(entry.clone(), max, max_bytes) {
                Queued::Yes => true,
                Queued::Full => {
                    crate::telemetry::push_lagged("slow_client");
                    false
                }
                Queued::Closed => false,
            }
        });
    }

    /// A subscription for `filter` from `cursor`, or from now when `None` (positioned here,
    /// under the lock: every record ingested after this call is delivered, except the history
    /// a starting hub is still reading, see [`Hub::history_until`]).
    pub fn subscribe(self: &Arc<Self>, filter: Filter, cursor: Option<Cursor>) -> Subscription {
        let (cursor, seq) = match cursor {
            Some(c) => (c, None),
            None => {
                let inner = self.lock();
                let mut from = inner.frontier.clone();
                from.merge(&inner.history);
                (from, Some(inner.next_seq))
            }
        };
        Subscription {
            hub: self.clone(),
            filter: Arc::new(filter),
            news_only: seq.is_some(),
            cursor,
            seq,
            pending: VecDeque::new(),
            live: None,
        }
    }

    fn pull(&self, filter: &Arc<Filter>, cursor: &Cursor, seq: Option<u64>) -> Pulled {
        let mut inner = self.lock();
        inner.evict(&self.settings, Instant::now());
        let front = inner.front_seq();
        let expired = match seq {
            Some(s) => s < front,
            None => inner.floor.iter().any(|(p, f)| cursor.get(p) < f),
        };
        if expired {
            return Pulled::Expired(inner.floor.clone());
        }
        let start = seq.map_or(0, |s| (s - front) as usize);
        let mut out = Vec::new();
        for (scanned, e) in inner.buffer.iter().skip(start).enumerate() {
            if e.offset > cursor.get(e.partition) && filter.wants(e) {
                out.push(e.clone());
            }
            if out.len() == PULL_MAX || scanned + 1 == PULL_SCAN {
                return Pulled::More(out, e.seq + 1);
            }
        }
        let queue = Arc::new(Queue::default());
        let id = inner.next_id;
        inner.next_id += 1;
        inner.live.push(Live {
            id,
            filter: filter.clone(),
            queue: queue.clone(),
        });
        Pulled::Live(out, inner.next_seq, id, queue)
    }

    fn detach(&self, id: u64) {
        self.lock().live.retain(|l| l.id != id);
    }
}

/// What a subscription yields next.
#[derive(Debug)]
pub enum Step {
    /// A match, and the cursor after it.
    Match(Arc<Entry>, Cursor),
    /// The connection fell behind: `cursor` is its last delivered position. With
    /// `buffer_starts`, the buffer no longer reached back to it (`cursor_expired`) and delivery
    /// goes on from there; without, it was too slow (`slow_client`) and catches up from the
    /// buffer.
    Lagged {
        reason: &'static str,
        cursor: Cursor,
        buffer_starts: Option<Cursor>,
    },
}

/// One connection's position and feed.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    pub filter: Arc<Filter>,
    /// Subscribed without a cursor: given no history, whenever the hub reads it (a client may
    /// connect before a starting hub knows where its history ends).
    news_only: bool,
    cursor: Cursor,
    /// The next hub seq to look at; `None` until the first scan of the buffer.
    seq: Option<u64>,
    pending: VecDeque<Arc<Entry>>,
    live: Option<(u64, Arc<Queue>)>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some((id, _)) = &self.live {
            self.hub.detach(*id);
        }
    }
}

impl Subscription {
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The next event. Cancel-safe: it awaits only the live channel, and yields between pulls
    /// with its position already saved.
    pub async fn next(&mut self) -> Step {
        loop {
            if let Some(e) = self.pending.pop_front() {
                if e.offset <= self.cursor.get(e.partition) {
                    continue;
                }
                if self.news_only && e.history {
                    self.cursor.advance(e.partition, e.offset);
                    continue;
                }
                self.cursor.advance(e.partition, e.offset);
                self.seq = Some(self.seq.map_or(e.seq + 1, |s| s.max(e.seq + 1)));
                return Step::Match(e, self.cursor.clone());
            }
            if let Some((_, queue)) = &self.live {
                match queue.recv().await {
                    Some(e) => self.pending.push_back(e),
                    None => {
                        self.live = None;
                        return Step::Lagged {
                            reason: "slow_client",
                            cursor: self.cursor.clone(),
                            buffer_starts: None,
                        };
                    }
                }
                continue;
            }
            match self.hub.pull(&self.filter, &self.cursor, self.seq) {
                Pulled::More(entries, seq) => {
                    self.pending.extend(entries);
                    self.seq = Some(seq);
                    // A long walk through the buffer is many short pulls: let other tasks
                    // (and other connections' pulls) run between them.
                    tokio::task::yield_now().await;
                }
                Pulled::Live(entries, seq, id, queue) => {
                    self.pending.extend(entries);
                    self.seq = Some(seq);
                    self.live = Some((id, queue));
                }
                Pulled::Expired(floor) => {
                    crate::telemetry::push_lagged("cursor_expired");
                    let cursor = self.cursor.clone();
                    self.cursor.merge(&floor);
                    self.seq = None;
                    return Step::Lagged {
                        reason: "cursor_expired",
                        cursor,
                        buffer_starts: Some(floor),
                    };
                }
            }
        }
    }

    /// The cursor to send with a heartbeat. While live with nothing queued, every record the
    /// hub has ingested has been delivered or was not wanted, so it moves to the hub's
    /// frontier: an idle client's cursor stays inside the buffer.
    pub fn heartbeat(&mut self) -> &Cursor {
        if let Some((id, queue)) = &self.live
            && self.pending.is_empty()
        {
            let inner = self.hub.lock();
            // Under the lock no ingest can queue more; still registered means not detached.
            if queue.is_empty() && inner.live.iter().any(|l| l.id == *id) {
                self.cursor.merge(&inner.frontier);
                self.seq = Some(inner.next_seq);
            }
        }
        &self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u32, tenant: &str) -> Vec<u8> {
        serde_json::json!({
            "mention": {"id": format!("m{id}"), "text": "x", "author": {"handle": "h"}},
            "signals": [{"tenant": tenant, "signal": "s", "version": 1}],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_counting_hub_counts_each_matched_record_once_into_its_signals_minutes() {
        let now = chrono::Utc::now();
        let record = |created: chrono::DateTime<chrono::Utc>| {
            serde_json::json!({
                "mention": {"id": "m", "text": "x", "author": {"handle": "h"},
                            "created_at": created.to_rfc3339()},
                "fields": {"sentiment_compound": -0.6, "hashtags": ["Rust", "serde"]},
                "signals": [{"tenant": "a", "signal": "s", "version": 1},
                            {"tenant": "b", "signal": "s", "version": 2}],
            })
            .to_string()
            .into_bytes()
        };
        let hub = Hub::new(HubSettings::default()).counting_minutes();
        hub.begin(0, 0);
        hub.ingest(0, 0, &record(now), None);
        // Read again at the same position (a consumer that re-reads): not counted again.
        hub.ingest(0, 0, &record(now), None);
        hub.ingest(0, 1, &record(now), None);
        // Its author's edit is shown to clients but not counted again.
        let mut edit: Value = serde_json::from_slice(&record(now)).expect("json");
        edit["mention"]["edited_at"] = now.to_rfc3339().into();
        let edit = serde_json::to_vec(&edit).expect("json");
        assert!(matches!(
            parse(&edit, &Layout::current(), None, Some(&[])),
            Ok(Some(Parsed { counted: None, .. }))
        ));
        hub.ingest(0, 2, &edit, None);
        let p = hub.provisional().expect("a counting hub");
        let minute = crate::aggregate::minute_of(now);
        let mut want = crate::aggregate::MinuteAggregate::default();
        for _ in 0..2 {
            want.add(Some(-0.6), &["rust".into(), "serde".into()]);
        }
        for topic in ["signal:a/s", "signal:b/s"] {
            let (minutes, streamed) = p.overlay(topic, Vec::new(), now);
            assert_eq!(minutes, vec![(minute, want.clone())], "{topic}");
            assert!(streamed.contains(&minute));
        }
        assert!(p.overlay("signal:c/s", Vec::new(), now).0.is_empty());
        // A hub that does not count (embedded mode, whose store counts as it writes).
        assert!(Hub::new(HubSettings::default()).provisional().is_none());
    }

    /// A compact record and its JSON form give the hub the same event mention, matches and
    /// counted figures: the compact one is read by its layout without the JSON form.
    #[test]
    fn compact_and_json_records_parse_alike() {
        let layout = Layout::current();
        let picks: Vec<usize> = COUNTED_FIELDS
            .iter()
            .map(|f| layout.field_index(f).expect("a counted field"))
            .collect();
        let source = collectors::Synthetic::new(Default::default());
        let matches = vec![
            model::SignalMatch {
                signal: model::SignalId::new("acme", "brand"),
                version: 3,
                highlights: [[0, 4], [9, 12]].into_iter().collect(),
            },
            model::SignalMatch {
                signal: model::SignalId::new("globex", "x"),
                version: 1,
                highlights: Default::default(),
            },
        ];
        let mut tagged = 0;
        for i in 0..200 {
            let mut m = source.mention(i);
            if i % 3 == 0 {
                m.edited_at = Some(m.collected_at + chrono::TimeDelta::seconds(90));
            }
            let record = transforms::enrich(&m);
            let cluster = (i % 2 == 0).then(|| format!("cluster-{i}"));
            let mut compact = Vec::new();
            transforms::avro::encode(&m, &record, &matches, &mut compact);
            if let Some(c) = &cluster {
                assert!(transforms::avro::set_cluster(&mut compact, c));
            }
            let mut json = transforms::EnrichedRef::with_signals(&m, &record, &matches);
            json.cluster_id = cluster.as_deref();
            let json = serde_json::to_vec(&json).expect("JSON form");
            let stored_at = Some(&b"2026-12-06T10:00:00.000Z"[..]);
            let parsed = |r: &[u8]| {
                parse(r, &layout, stored_at, Some(&picks))
                    .expect("parsed")
                    .expect("matched")
            };
            let (a, b) = (parsed(&compact), parsed(&json));
            assert_eq!(a.mention, b.mention, "{}", m.id);
            let m_of = |p: &Parsed| -> Vec<(String, String, String)> {
                p.matches
                    .iter()
                    .map(|x| {
                        (
                            x.tenant.to_string(),
                            x.signal.to_string(),
                            x.json.to_string(),
                        )
                    })
                    .collect()
            };
            assert_eq!(m_of(&a), m_of(&b), "{}", m.id);
            assert_eq!(a.counted, b.counted, "{}", m.id);
            if m.edited_at.is_some() {
                assert!(
                    a.counted.is_none(),
                    "an edit is not counted again: {}",
                    m.id
                );
            } else {
                let counted = a.counted.expect("a created_at");
                assert_eq!(counted.created_at, m.created_at);
                tagged += usize::from(!counted.hashtags.is_empty());
            }
            // The fields a client asks for, as each event gives them.
            let names: Vec<String> = ["hashtags", "sentiment_compound", "no_such", "hashtags"]
                .map(String::from)
                .into();
            let fields = fields_of(&compact, &layout, &names);
            assert_eq!(fields, fields_of(&json, &layout, &names), "{}", m.id);
            assert!(fields[0].is_array() && fields[2].is_null() && fields[3] == fields[0]);
            let event: Value = serde_json::from_str(&a.mention).expect("JSON");
            assert_eq!(event["id"], m.id.as_str());
            assert_eq!(event["cluster_id"].as_str(), cluster.as_deref());
            assert_eq!(event["stored_at"], "2026-12-06T10:00:00.000Z");
            // An edit says so, so a client replaces the version it shows; a first version
            // carries no such key.
            assert_eq!(
                event.get("edited_at").and_then(Value::as_str),
                m.edited_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .as_deref(),
                "{}",
                m.id
            );
        }
        assert!(tagged > 20, "hashtags were compared: {tagged}");
    }

    fn filter(tenant: &str) -> Filter {
        Filter {
            tenant: tenant.into(),
            signals: None,
            fields: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_connection_past_its_bytes_is_detached_and_its_queue_freed_without_reading() {
        let hub = Arc::new(Hub::new(HubSettings {
            client_buffer_bytes: 2_000,
            ..Default::default()
        }));
        hub.begin(0, 0);
        let mut sub = hub.subscribe(filter("a"), None);
        // Goes live (nothing to catch up on) and waits.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), sub.next())
                .await
                .is_err()
        );
        for i in 0..20 {
            hub.ingest(0, i, &record(i as u32, "a"), None);
        }
        // Never read: the queue passed 2,000 bytes within a few entries, and was emptied then
        // (a client that stopped reading holds nothing), not when it is read.
        let (_, queue) = sub.live.as_ref().expect("live");
        assert!(queue.is_empty() && queue.state().closed && queue.state().bytes == 0);
        assert!(hub.lock().live.is_empty(), "detached");
        let Step::Lagged {
            reason,
            buffer_starts: None,
            ..
        } = sub.next().await
        else {
            panic!("expected lagged");
        };
        assert_eq!(reason, "slow_client");
        // Then every match once, from the buffer, and live again.
        let mut got = Vec::new();
        while let Ok(Step::Match(e, _)) =
            tokio::time::timeout(Duration::from_millis(50), sub.next()).await
        {
            got.push(e.offset);
        }
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        hub.ingest(0, 20, &record(20, "a"), None);
        let Step::Match(e, _) = sub.next().await else {
            panic!("expected a live match");
        };
        assert_eq!(e.offset, 20);
    }

    #[tokio::test]
    async fn a_client_without_a_cursor_gets_no_history_a_starting_hub_reads() {
        let hub = Arc::new(Hub::new(HubSettings::default()));
        // A client connects before the hub knows anything of the topic.
        let mut early = hub.subscribe(filter("a"), None);
        // Following began an hour back in a partition whose last record was offset 9; the
        // hub has read up to offset 4 when a client connects without a cursor.
        hub.begin(0, 0);
        hub.history_until(0, 9);
        for i in 0..5 {
            hub.ingest(0, i, &record(i as u32, "a"), None);
        }
        let mut fresh = hub.subscribe(filter("a"), None);
        let mut resumed = hub.subscribe(filter("a"), Some(Cursor::parse("v1.0-2").expect("c")));
        for i in 5..12 {
            hub.ingest(0, i, &record(i as u32, "a"), None);
        }
        let drain = async |sub: &mut Subscription| {
            let mut got = Vec::new();
            while let Ok(Step::Match(e, _)) =
                tokio::time::timeout(Duration::from_millis(50), sub.next()).await
            {
                got.push(e.offset);
            }
            got
        };
        assert_eq!(drain(&mut fresh).await, [10, 11], "news only");
        assert_eq!(drain(&mut early).await, [10, 11], "news only");
        assert_eq!(early.cursor().get(0), 11);
        assert_eq!(drain(&mut resumed).await, (3..12).collect::<Vec<_>>());
        assert!(fresh.heartbeat().get(0) >= 11);
    }

    #[tokio::test]
    async fn a_catch_up_that_rarely_matches_walks_the_buffer_in_short_steps() {
        let hub = Arc::new(Hub::new(HubSettings::default()));
        hub.begin(0, 0);
        let n = 3 * PULL_SCAN as i64 + 10;
        for i in 0..n {
            let tenant = if i % 1000 == 999 { "a" } else { "b" };
            hub.ingest(0, i, &record(i as u32, tenant), None);
        }
        let mut from = Cursor::default();
        from.advance(0, 0);
        // One pull looks at PULL_SCAN entries at most, under the lock, matching or not.
        let f = Arc::new(filter("a"));
        let Pulled::More(first, seq) = hub.pull(&f, &from, None) else {
            panic!("a walk of {n} entries done in one pull");
        };
        assert_eq!(seq, PULL_SCAN as u64);
        assert_eq!(first.len(), PULL_SCAN / 1000);
        // A subscription gets every match, in order, each once, then goes live.
        let mut sub = hub.subscribe(filter("a"), Some(from));
        let mut got = Vec::new();
        while let Ok(Step::Match(e, _)) =
            tokio::time::timeout(Duration::from_millis(50), sub.next()).await
        {
            got.push(e.offset);
        }
        let want: Vec<i64> = (1..n).filter(|o| o % 1000 == 999).collect();
        assert_eq!(got, want);
        hub.ingest(0, n, &record(n as u32, "a"), None);
        let Step::Match(e, _) = sub.next().await else {
            panic!("expected a live match");
        };
        assert_eq!(e.offset, n);
    }

    #[tokio::test]
    async fn a_cursor_older_than_the_buffer_gets_lagged_then_the_whole_buffer() {
        let hub = Arc::new(Hub::new(HubSettings {
            replay_bytes: 4_000,
            ..Default::default()
        }));
        hub.begin(0, 0);
        let mut old = Cursor::default();
        old.advance(0, 0);
        for i in 0..100 {
            hub.ingest(
                0,
                i64::from(i),
                &record(i, if i % 2 == 0 { "a" } else { "b" }),
                None,
            );
        }
        let mut sub = hub.subscribe(filter("a"), Some(old.clone()));
        let Step::Lagged {
            reason,
            cursor,
            buffer_starts: Some(starts),
        } = sub.next().await
        else {
            panic!("expected lagged");
        };
        assert_eq!((reason, cursor), ("cursor_expired", old));
        let first = starts.get(0) + 1;
        assert!(
            first > 10 && first < 99,
            "bytes evicted the oldest: {starts}"
        );
        let mut got = Vec::new();
        while let Ok(Step::Match(e, c)) =
            tokio::time::timeout(Duration::from_millis(50), sub.next()).await
        {
            assert_eq!(c.get(0), e.offset);
            got.push(e.offset);
        }
        let want: Vec<i64> = (first..100).filter(|o| o % 2 == 0).collect();
        assert_eq!(got, want, "only a's, each once, from the buffer's start");
        // Live from there on, and an ingest at an old position is ignored.
        hub.ingest(0, 50, &record(50, "a"), None);
        let stored_at = b"2026-12-04T15:00:00.123Z";
        hub.ingest(0, 100, &record(100, "a"), Some(stored_at));
        let Step::Match(e, _) = sub.next().await else {
            panic!("expected a match");
        };
        assert_eq!(e.offset, 100);
        // The record's stored_at header is the event's.
        let mention: Value = serde_json::from_str(&e.mention).expect("a JSON object");
        assert_eq!(mention["stored_at"], "2026-12-04T15:00:00.123Z");
    }
}
