//! Bringing a store of an earlier layout to this one, at open:
//!
//! - [`from_rows`]: a store written before segments (a row per mention, keyed by id). That layout
//!   kept `mentions` (id -> write time millis, then the LZ4-compressed record) and `by_time`
//!   ((write time, id) -> created_at millis and the topics). Mentions move oldest first, a
//!   transaction of [`STEP`] at a time, each leaving the old tables as it enters a segment, so a
//!   move cut short by a crash goes on at the next open. Mentions written in the same
//!   millisecond share a segment, as they did a batch.
//! - [`topic_rows`]: the topic index keyed by creation time alone (`by_topic`, (topic, created_at
//!   millis, id) -> (), until stop 34) moves to its keys by second and write time
//!   ([`super::TOPIC_INDEX`]), [`STEP`] rows a transaction, each leaving the old table as it
//!   enters the new one.
//! - [`stats_bytes`]: a store from before the stored minutes had a share of the size budget
//!   (stop 42) gets their byte count, once, in `meta`.

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use super::{META, TOPIC_STATS, Tables, err, indexed, segment, stat_footprint, topic_row};
use crate::error::{Error, Result};

const ROWS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("mentions");
const BY_TIME: TableDefinition<'_, (i64, &str), &[u8]> = TableDefinition::new("by_time");
pub(super) const BY_TOPIC: TableDefinition<'_, (&str, i64, &str), ()> =
    TableDefinition::new("by_topic");

/// Counts the bytes of the stored minutes into `meta` where no count is there yet. Returns how
/// many minutes it counted (0 when the count was there).
pub(super) fn stats_bytes(db: &Database) -> Result<u64> {
    let txn = db.begin_write().map_err(err)?;
    let counted = {
        let mut meta = txn.open_table(META).map_err(err)?;
        if meta.get("stats_bytes").map_err(err)?.is_some() {
            return Ok(0);
        }
        let stats = txn.open_table(TOPIC_STATS).map_err(err)?;
        let (mut held, mut counted) = (0u64, 0u64);
        for row in stats.iter().map_err(err)? {
            let (key, value) = row.map_err(err)?;
            held += stat_footprint(key.value().0, value.value().len());
            counted += 1;
        }
        meta.insert("stats_bytes", held).map_err(err)?;
        counted
    };
    txn.commit().map_err(err)?;
    Ok(counted)
}

/// Mentions moved per transaction.
const STEP: usize = 20_000;

/// Runs `step` a transaction at a time while the file has the table `old`, until a step moves
/// nothing; `done` then deletes the earlier tables in that transaction. Returns how many the
/// steps moved.
fn in_steps(
    db: &Database,
    old: &str,
    step: impl Fn(&redb::WriteTransaction) -> Result<usize>,
    done: impl Fn(&redb::WriteTransaction) -> Result<()>,
) -> Result<u64> {
    let mut moved = 0;
    loop {
        let txn = db.begin_write().map_err(err)?;
        if !txn.list_tables().map_err(err)?.any(|t| t.name() == old) {
            return Ok(moved);
        }
        let n = step(&txn)?;
        if n == 0 {
            done(&txn)?;
        }
        txn.commit().map_err(err)?;
        moved += n as u64;
    }
}

/// Moves every mention of the earlier layout, if the file has one; returns how many moved.
pub(super) fn from_rows(db: &Database) -> Result<u64> {
    in_steps(db, ROWS.name(), step, |txn| {
        txn.delete_table(ROWS).map_err(err)?;
        txn.delete_table(BY_TIME).map_err(err)?;
        Ok(())
    })
}

/// What a topic row of [`super::TOPIC_INDEX`] takes beyond one of `by_topic`: the write time in
/// its key and the creation time as its value.
const REKEYED_BYTES: u64 = 16;

/// Moves the rows of the earlier topic index to the new one, if the file has it; returns how
/// many moved. A row whose mention is no longer stored is dropped.
pub(super) fn topic_rows(db: &Database) -> Result<u64> {
    in_steps(db, BY_TOPIC.name(), rekey_step, |txn| {
        txn.delete_table(BY_TOPIC).map_err(err)?;
        Ok(())
    })
}

/// Moves up to [`STEP`] rows of the earlier topic index; returns how many it took (0: none
/// left).
fn rekey_step(txn: &redb::WriteTransaction) -> Result<usize> {
    let mut by_topic = txn.open_table(BY_TOPIC).map_err(err)?;
    let mut t = Tables::open(txn)?;
    let mut live = t.live()?;
    let mut taken: Vec<(String, i64, String)> = Vec::new();
    for row in by_topic.iter().map_err(err)? {
        let (key, _) = row.map_err(err)?;
        let (topic, created_ms, id) = key.value();
        taken.push((topic.to_owned(), created_ms, id.to_owned()));
        if taken.len() >= STEP {
            break;
        }
    }
    for (topic, created_ms, id) in &taken {
        by_topic
            .remove((topic.as_str(), *created_ms, id.as_str()))
            .map_err(err)?;
        if let Some(at) = t.ids.get(id.as_str()).map_err(err)?.map(|v| v.value()) {
            t.by_topic
                .insert(topic_row(topic, *created_ms, at.0, id), *created_ms)
                .map_err(err)?;
            live += REKEYED_BYTES;
        }
    }
    t.meta.insert("live_bytes", live).map_err(err)?;
    Ok(taken.len())
}

/// Moves up to [`STEP`] of the oldest mentions; returns how many it moved (0: none left).
fn step(txn: &redb::WriteTransaction) -> Result<usize> {
    let mut rows = txn.open_table(ROWS).map_err(err)?;
    let mut by_time = txn.open_table(BY_TIME).map_err(err)?;
    let mut by_topic = txn.open_table(BY_TOPIC).map_err(err)?;
    let mut t = Tables::open(txn)?;
    let mut live = t.live()?;
    let mut taken: Vec<(i64, String, Vec<u8>)> = Vec::new();
    for row in by_time.range::<(i64, &str)>(..).map_err(err)? {
        let (key, entry) = row.map_err(err)?;
        let (ms, id) = key.value();
        taken.push((ms, id.to_owned(), entry.value().to_vec()));
        if taken.len() >= STEP {
            break;
        }
    }
    let n = taken.len();
    let mut body = Vec::new();
    let mut members: Vec<String> = Vec::new();
    for (k, (ms, id, entry)) in taken.iter().enumerate() {
        by_time.remove((*ms, id.as_str())).map_err(err)?;
        let row = rows
            .get(id.as_str())
            .map_err(err)?
            .map(|v| v.value().to_vec());
        let (created_ms, topics) = unpack_entry(entry)?;
        // An entry of an earlier write of a mention since rewritten: the row is the later one.
        let current = row.filter(|r| r.get(..8) == Some(&ms.to_le_bytes()[..]));
        live = live.saturating_sub(footprint(id, current.as_ref().map_or(0, Vec::len), entry));
        let record = match current {
            Some(row) => {
                rows.remove(id.as_str()).map_err(err)?;
                match lz4_flex::decompress_size_prepended(&row[8..]) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        // One unreadable mention is that mention's loss, not the store's.
                        tracing::warn!(id, error = %e, "a stored mention is unreadable; not moved");
                        for topic in &topics {
                            by_topic
                                .remove((*topic, created_ms, id.as_str()))
                                .map_err(err)?;
                        }
                        None
                    }
                }
            }
            None => None,
        };
        if let Some(record) = record {
            segment::push(
                &mut body,
                &segment::Slot {
                    id,
                    created_ms,
                    topics: topics.clone(),
                    record: &record,
                },
            );
            // Its topic rows are still of the earlier layout: [`topic_rows`] counts the rest of
            // their new size as it moves them.
            live += indexed(id, &topics) - REKEYED_BYTES * topics.len() as u64;
            members.push(id.clone());
        }
        let last_of_its_write = taken.get(k + 1).is_none_or(|(next, ..)| next != ms);
        if !body.is_empty() && (last_of_its_write || body.len() >= segment::RAW_TARGET) {
            let at = (*ms, t.next_segment()?);
            live += t.put_segment(at, &body)?;
            for id in members.drain(..) {
                t.ids.insert(id.as_str(), at).map_err(err)?;
            }
            body.clear();
        }
    }
    t.meta.insert("live_bytes", live).map_err(err)?;
    Ok(n)
}

/// An entry of the earlier `by_time`: created_at millis, then each topic as a u16 length and
/// its bytes.
fn unpack_entry(bytes: &[u8]) -> Result<(i64, Vec<&str>)> {
    let bad = || Error::Store {
        what: "corrupt retention index entry".into(),
        source: None,
    };
    let (created, mut rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
    let mut topics = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len));
        let topic = tail.get(..len).ok_or_else(bad)?;
        topics.push(std::str::from_utf8(topic).map_err(|_| bad())?);
        rest = &tail[len..];
    }
    Ok((i64::from_le_bytes(*created), topics))
}

/// What the earlier layout counted in the live bytes for a mention: its row, its time entry and
/// its topic rows.
fn footprint(id: &str, row_len: usize, entry: &[u8]) -> u64 {
    let topics = unpack_entry(entry).map_or(0, |(_, t)| t.len());
    (id.len() + row_len + 16 + id.len() + entry.len() + topics * (id.len() + 8)) as u64
        + entry.len().saturating_sub(8) as u64
}
