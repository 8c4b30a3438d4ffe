//! The widths of hot topics' minutes (`topic_widths`): proposed ahead, fixed by a lightweight
//! transaction, cached once final. See [`super::buckets`] for why placement works this way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::buckets::{self, Held, MAX_WIDTH, Plan};
use super::{ScyllaStore, err};
use crate::error::{Error, Result};

/// Minutes whose final plan a process keeps (about three days' worth; an entry is a map of the
/// minute's hot topics, empty for most minutes).
const CACHED_MINUTES: usize = 4096;

/// Hours whose latest marked plan a process keeps (the look-back of a week, twice).
const CACHED_HOURS: usize = 2 * buckets::CARRY_HOURS as usize;

/// Frozen (topic, minute) widths a process keeps for minutes not final yet.
const CACHED_FROZEN: usize = 16_384;

/// Final plans by minute (seconds since the epoch): topic → width, for the hot topics only.
#[derive(Debug, Default)]
pub(super) struct PlanCache {
    minutes: BTreeMap<i64, Arc<Plan>>,
    /// Widths this process froze for minutes not final yet (rows dated ahead of the clocks):
    /// frozen is final, so a later batch need not run the transaction again.
    frozen: HashMap<(String, i64), u32>,
    /// Per hour (all final), the plan of its latest marked minute, if any: what the unmarked
    /// minutes of later hours carry.
    hours: BTreeMap<i64, Option<Arc<Plan>>>,
    /// The latest minute this process marked.
    marked: i64,
    /// Whether this process's heat holds what the table records workers saw
    /// ([`buckets::SEEN`]) before it started.
    seeded: bool,
}

impl PlanCache {
    fn remember_hour(&mut self, hour: i64, last_marked: Option<Arc<Plan>>) {
        self.hours.insert(hour, last_marked);
        while self.hours.len() > CACHED_HOURS {
            self.hours.pop_first();
        }
    }
}

/// A width as stored: what a writer could have planned, else 1.
fn valid(width: i32) -> u32 {
    u32::try_from(width)
        .ok()
        .filter(|w| w.is_power_of_two() && *w <= MAX_WIDTH)
        .unwrap_or(1)
}

/// What a lightweight transaction on `topic_widths` answered: whether it applied and, if not,
/// the plan's current width and frozen flag (by column name: the columns a refusal returns
/// depend on the statement).
struct Answer {
    applied: bool,
    width: Option<i32>,
    fixed: Option<bool>,
}

fn lwt(result: scylla::response::query_result::QueryResult) -> Result<Answer> {
    use scylla::value::CqlValue;
    let rows = result.into_rows_result().map_err(err)?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let row = rows.first_row::<scylla::value::Row>().map_err(err)?;
    let mut answer = Answer {
        applied: false,
        width: None,
        fixed: None,
    };
    for (name, value) in names.iter().zip(&row.columns) {
        match (name.as_str(), value) {
            ("[applied]", Some(CqlValue::Boolean(b))) => answer.applied = *b,
            ("width", Some(CqlValue::Int(w))) => answer.width = Some(*w),
            ("fixed", Some(CqlValue::Boolean(f))) => answer.fixed = Some(*f),
            _ => {}
        }
    }
    Ok(answer)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl ScyllaStore {
    /// The width `topic`'s rows of `minute` are written at, for readers: the final plan (cached),
    /// or for a minute not final yet, what is fixed so far (1 if nothing).
    pub(super) async fn width_of(&self, topic: &str, minute: DateTime<Utc>) -> Result<u32> {
        let m = minute.timestamp();
        if buckets::is_final(m, Utc::now()) {
            return Ok(self.final_plan(m).await?.get(topic).copied().unwrap_or(1));
        }
        self.fixed_width(topic, m).await.map(|w| w.unwrap_or(1))
    }

    /// The width to write `topic`'s rows of `minute` at: as [`Self::width_of`], except that a
    /// minute not final yet (a row dated ahead of the clock) has its plan frozen first, so
    /// nothing can change it after this row is written. It is frozen at what was proposed, and
    /// no narrower than what the topic needs now: this writer's projection of it
    /// ([`buckets::Heat::width`]) or the width of the minute running now. Frozen at 1, one early
    /// row of a hot topic (a post whose clock runs ahead, or a sender who dates posts ahead on
    /// purpose) would pin a whole minute of it to one partition, since no later proposal can
    /// widen a frozen plan.
    pub(super) async fn write_width(&self, topic: &str, minute: i64) -> Result<u32> {
        let now = Utc::now();
        if buckets::is_final(minute, now) {
            return Ok(self
                .final_plan(minute)
                .await?
                .get(topic)
                .copied()
                .unwrap_or(1));
        }
        let share = crate::distributed::kafka::partition_share();
        let needed = self.heat().width(topic, share, now);
        let running = now.timestamp().div_euclid(60) * 60;
        let running = self
            .final_plan(running)
            .await?
            .get(topic)
            .copied()
            .unwrap_or(1);
        self.freeze_width(topic, minute, needed.max(running)).await
    }

    /// Proposes `width` for `topic`'s `minute`: the plan becomes this width unless it is wider
    /// already or frozen. Returns the width that holds. Workers propose for the next minute or
    /// the one after, so plans only ever widen before they are final; tests and operators may
    /// plan any minute no row has been written to yet.
    pub async fn propose_width(&self, topic: &str, minute: i64, width: u32) -> Result<u32> {
        self.settle_plan(topic, minute, width.clamp(1, MAX_WIDTH), false)
            .await
    }

    /// Freezes `topic`'s plan for `minute`, widened to `floor` if narrower (at `floor` if it has
    /// none), before a row is written to a minute not final yet, so no later proposal moves that
    /// row. Returns the frozen width.
    async fn freeze_width(&self, topic: &str, minute: i64, floor: u32) -> Result<u32> {
        let key = (topic.to_owned(), minute);
        if let Some(w) = self.plan_cache().frozen.get(&key) {
            return Ok(*w);
        }
        let width = self
            .settle_plan(topic, minute, floor.clamp(1, MAX_WIDTH), true)
            .await?;
        let mut cache = self.plan_cache();
        if cache.frozen.len() >= CACHED_FROZEN {
            // Minutes that have become final are answered by their final plan from now on.
            let now = Utc::now();
            cache.frozen.retain(|(_, m), _| !buckets::is_final(*m, now));
            if cache.frozen.len() >= CACHED_FROZEN {
                cache.frozen.clear();
            }
        }
        cache.frozen.insert(key, width);
        Ok(width)
    }

    /// One lightweight transaction after another until the plan holds `width` or wider (a
    /// proposal), or is frozen at `width` or wider (`freeze`; a plan someone froze already stays
    /// as it is). Each step either applies or answers what the plan holds now, which the next
    /// step is conditioned on.
    async fn settle_plan(&self, topic: &str, minute: i64, width: u32, freeze: bool) -> Result<u32> {
        let (hour, m) = (at(buckets::hour_of(minute)), at(minute));
        let wanted = i32::try_from(width).unwrap_or(1);
        let mut held = lwt(self
            .session
            .execute_unpaged(&self.st.new_plan, (hour, m, topic, wanted, freeze))
            .await
            .map_err(err)?)?;
        if held.applied {
            return Ok(width);
        }
        for _ in 0..8 {
            let (w, fixed) = (held.width.unwrap_or(1), held.fixed.unwrap_or(false));
            if fixed || (!freeze && valid(w) >= width) {
                return Ok(valid(w));
            }
            let frozen = i32::try_from(valid(w).max(width)).unwrap_or(wanted);
            held = if freeze {
                lwt(self
                    .session
                    .execute_unpaged(&self.st.freeze_plan, (frozen, hour, m, topic, w))
                    .await
                    .map_err(err)?)?
            } else {
                lwt(self
                    .session
                    .execute_unpaged(&self.st.widen_plan, (wanted, hour, m, topic, w))
                    .await
                    .map_err(err)?)?
            };
            if held.applied {
                return Ok(if freeze { valid(frozen) } else { width });
            }
        }
        Err(Error::store(
            "planning a topic's width",
            format!("{topic} at {m}: the plan kept changing"),
        ))
    }

    /// The width fixed for `(topic, minute)` so far, read afresh.
    async fn fixed_width(&self, topic: &str, minute: i64) -> Result<Option<u32>> {
        let key = (at(buckets::hour_of(minute)), at(minute), topic);
        let row = self.first_row::<(Option<i32>,)>(&self.st.plan, key);
        Ok(row.await?.map(|(w,)| w.map_or(1, valid)))
    }

    /// The final plan of `minute`: from the cache, or settled with the rest of its hour (every
    /// minute of the hour that was final when the read began is cached).
    async fn final_plan(&self, minute: i64) -> Result<Arc<Plan>> {
        if let Some(p) = self.plan_cache().minutes.get(&minute) {
            return Ok(p.clone());
        }
        let hour = buckets::hour_of(minute);
        let now = Utc::now();
        let held = self.read_hour(hour).await?;
        let finals: Vec<i64> = (hour..hour + 3600)
            .step_by(60)
            .take_while(|m| buckets::is_final(*m, now))
            .collect();
        let marked = |m: &i64| held.get(m).is_some_and(|h| h.marked);
        // Only unmarked minutes before the hour's first marked one take a plan from earlier hours.
        let mut carried = match finals.first() {
            Some(first) if !marked(first) => self.carried_into(hour).await?,
            _ => None,
        };
        let empty = Held::default();
        let mut last_marked = None;
        let mut wanted = Arc::default();
        let mut cache = self.plan_cache();
        for m in finals {
            let h = held.get(&m).unwrap_or(&empty);
            let plan = buckets::settle(h, carried.as_ref());
            if h.marked {
                carried = Some(plan.clone());
                last_marked = Some(plan.clone());
            }
            if m == minute {
                wanted = plan.clone();
            }
            cache.minutes.insert(m, plan);
        }
        if buckets::is_final(hour + 3540, now) {
            cache.remember_hour(hour, last_marked);
        }
        while cache.minutes.len() > CACHED_MINUTES {
            cache.minutes.pop_first();
        }
        Ok(wanted)
    }

    /// The plan of the latest marked minute in the [`buckets::CARRY_HOURS`] hours before `hour`
    /// (all final), if any: what its unmarked minutes carry.
    async fn carried_into(&self, hour: i64) -> Result<Option<Arc<Plan>>> {
        for back in 1..=buckets::CARRY_HOURS {
            let h = hour - back * 3600;
            let cached = self.plan_cache().hours.get(&h).cloned();
            let last = match cached {
                Some(last) => last,
                None => {
                    let held = self.read_hour(h).await?;
                    let last = held
                        .values()
                        .rev()
                        .find(|m| m.marked)
                        .map(|m| buckets::settle(m, None));
                    self.plan_cache().remember_hour(h, last.clone());
                    last
                }
            };
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }

    /// What `topic_widths` holds for each minute of `hour`.
    async fn read_hour(&self, hour: i64) -> Result<BTreeMap<i64, Held>> {
        use futures_util::StreamExt;
        let mut rows = self
            .session
            .execute_iter(self.st.plans.clone(), (at(hour),))
            .await
            .map_err(err)?
            .rows_stream::<(DateTime<Utc>, String, Option<i32>, Option<bool>)>()
            .map_err(err)?;
        let mut held: BTreeMap<i64, Held> = BTreeMap::new();
        while let Some(row) = rows.next().await {
            let (m, topic, width, fixed) = row.map_err(err)?;
            let minute = held.entry(m.timestamp()).or_default();
            if topic == buckets::MARK {
                minute.marked = true;
            } else if let Some(seen) = topic.strip_prefix(buckets::SEEN) {
                minute.seen.insert(seen.to_owned(), width.map_or(1, valid));
            } else {
                let width = width.map_or(1, valid);
                minute.widths.insert(topic, (width, fixed.unwrap_or(false)));
            }
        }
        Ok(held)
    }

    /// Marks the minute proposals are made for at `now` ([`buckets::MARK`]) once this worker
    /// has watched the traffic since `watching` for [`buckets::WATCH_BEFORE_MARKING`] seconds,
    /// and while [`buckets::MARK_LEAD`] seconds or more remain before that minute: the worker
    /// proposes every topic it sees hot, and first proposes the topics it planned in the last
    /// [`buckets::HOLD_MINUTES`] at their width (`Heat::held`), so that minute's plan is
    /// complete. A minute no worker marked carries the plan of the last one marked
    /// ([`buckets::settle`]). A plain write, not a transaction: every worker writes the same
    /// row, and it only ever says yes. Returns the minute marked, if this call marked one.
    pub async fn mark_planned(
        &self,
        watching: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        if (now - watching).num_seconds() < buckets::WATCH_BEFORE_MARKING {
            return Ok(None);
        }
        let minute = buckets::proposal_minute(now);
        if minute - now.timestamp() < buckets::MARK_LEAD || self.plan_cache().marked >= minute {
            return Ok(None);
        }
        if !self.plan_cache().seeded {
            self.seed_heat(minute).await?;
        }
        // Topics planned lately and quiet now keep their width, before the mark says the
        // minute's plan is complete. A failed proposal leaves the minute unmarked: it carries.
        // They and the mark must land while [`buckets::MARK_LEAD`] remains before the minute.
        let started = std::time::Instant::now();
        let spare = (minute - now.timestamp() - buckets::MARK_LEAD).max(0) as u64;
        let held = self.heat().held(minute);
        for (topic, width) in held {
            if started.elapsed().as_secs() >= spare {
                tracing::warn!(
                    minute,
                    "holding quiet topics' widths took too long; not marked"
                );
                return Ok(None);
            }
            let holds = self.propose_width(&topic, minute, width).await?;
            self.heat().holds(minute, &topic, width.max(holds));
        }
        self.plan_note(minute, buckets::MARK, 1).await?;
        let mut cache = self.plan_cache();
        cache.marked = cache.marked.max(minute);
        Ok(Some(minute))
    }

    /// Seeds this process's heat with the proposals workers recorded as made from their own
    /// view ([`buckets::SEEN`]) in the [`buckets::HOLD_MINUTES`] before `minute`, once: a
    /// worker that starts holds the quiet topics the workers before it held.
    async fn seed_heat(&self, minute: i64) -> Result<()> {
        let from = minute - buckets::HOLD_MINUTES * 60;
        let mut seen = Vec::new();
        for hour in (buckets::hour_of(from)..=buckets::hour_of(minute)).step_by(3600) {
            for (m, held) in self.read_hour(hour).await? {
                if m > from && m < minute {
                    seen.extend(held.seen.into_iter().map(|(t, w)| (m, t, w)));
                }
            }
        }
        let mut heat = self.heat();
        for (m, topic, width) in &seen {
            heat.seed(*m, topic, *width);
        }
        drop(heat);
        self.plan_cache().seeded = true;
        tracing::debug!(minute, seeded = seen.len(), "holds seeded from the table");
        Ok(())
    }

    /// Records that this worker proposed `width` for `(topic, minute)` from its own view of the
    /// traffic ([`buckets::SEEN`]), for the workers that start after it.
    pub(super) async fn note_seen(&self, topic: &str, minute: i64, width: u32) -> Result<()> {
        let key = format!("{}{topic}", buckets::SEEN);
        self.plan_note(minute, &key, width).await
    }

    /// Writes a row of `minute`'s plans that is not a topic's plan (a mark, a record of what a
    /// worker saw): a plain insert, which every worker may repeat.
    async fn plan_note(&self, minute: i64, key: &str, width: u32) -> Result<()> {
        let width = i32::try_from(width).unwrap_or(1);
        let row = (at(buckets::hour_of(minute)), at(minute), key, width);
        self.session
            .execute_unpaged(&self.st.plan_note, row)
            .await
            .map_err(err)?;
        Ok(())
    }

    fn plan_cache(&self) -> std::sync::MutexGuard<'_, PlanCache> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This process's view of how hot each topic is.
    pub(super) fn heat(&self) -> std::sync::MutexGuard<'_, buckets::Heat> {
        self.heat.lock().unwrap_or_else(|p| p.into_inner())
    }
}
