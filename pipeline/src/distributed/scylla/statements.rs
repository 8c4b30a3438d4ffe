//! Every CQL statement the store runs, prepared once per process and marked idempotent (upserts
//! by key), so the driver may retry any of them and the runtime may replay a whole batch.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use crate::error::{Error, Result};

pub(super) struct Statements {
    pub(super) insert_mention: PreparedStatement,
    pub(super) insert_by_topic: PreparedStatement,
    /// Every plan of an hour's minutes.
    pub(super) plans: PreparedStatement,
    pub(super) plan: PreparedStatement,
    pub(super) mark_dirty: PreparedStatement,
    pub(super) get_mention: PreparedStatement,
    pub(super) delete_mention: PreparedStatement,
    pub(super) ttl_of_mention: PreparedStatement,
    pub(super) refile_mention: PreparedStatement,
    pub(super) refile_by_topic: PreparedStatement,
    pub(super) unfile: PreparedStatement,
    /// Marks a `(topic, minute)` spilled: bucket 0's static `spilled`.
    pub(super) spill: PreparedStatement,
    /// Whether a `(topic, minute)` spilled.
    pub(super) spilled: PreparedStatement,
    pub(super) scan: PreparedStatement,
    pub(super) recent: PreparedStatement,
    pub(super) recent_before: PreparedStatement,
    pub(super) dirty_shard: PreparedStatement,
    pub(super) minute_rows: PreparedStatement,
    pub(super) write_stats: PreparedStatement,
    pub(super) read_stats: PreparedStatement,
    pub(super) stats_minutes: PreparedStatement,
    pub(super) clear_dirty: PreparedStatement,
    pub(super) revision: PreparedStatement,
    pub(super) bump_revision: PreparedStatement,
    pub(super) all_signals: PreparedStatement,
    pub(super) put_signal: PreparedStatement,
    pub(super) get_signal: PreparedStatement,
    pub(super) delete_signal: PreparedStatement,
    pub(super) put_schema: PreparedStatement,
    pub(super) get_schema: PreparedStatement,
    pub(super) put_tenant: PreparedStatement,
    pub(super) all_tenants: PreparedStatement,
    pub(super) put_key: PreparedStatement,
    pub(super) get_key: PreparedStatement,
    pub(super) all_keys: PreparedStatement,
    pub(super) get_detector: PreparedStatement,
    pub(super) put_detector: PreparedStatement,
    pub(super) list_detectors: PreparedStatement,
    pub(super) delete_detector: PreparedStatement,
    pub(super) put_alert: PreparedStatement,
    pub(super) get_alerts: PreparedStatement,
    pub(super) get_alert_settings: PreparedStatement,
    pub(super) put_alert_settings: PreparedStatement,
    pub(super) delete_alert_settings: PreparedStatement,
    pub(super) get_webhook: PreparedStatement,
    pub(super) put_webhook: PreparedStatement,
    pub(super) delete_webhook: PreparedStatement,
    /// Lightweight transactions: not idempotent (a retried one may see its own first write).
    pub(super) take_lease: PreparedStatement,
    pub(super) renew_lease: PreparedStatement,
    /// A plain (not conditional) row of `topic_widths`, for the rows that are not a topic's
    /// plan: a minute's mark (`buckets::MARK`, width 1) and a worker's record of an own-view
    /// proposal (`buckets::SEEN`): `(hour, minute, topic, width)`.
    pub(super) plan_note: PreparedStatement,
    /// A topic's plan for a minute, if it has none: `(hour, minute, topic, width, fixed)`.
    pub(super) new_plan: PreparedStatement,
    /// Widens a plan nobody froze: `(width, hour, minute, topic, held width)`.
    pub(super) widen_plan: PreparedStatement,
    /// Freezes a plan nobody froze, at the width it holds or wider:
    /// `(width, hour, minute, topic, held width)`.
    pub(super) freeze_plan: PreparedStatement,
}

/// A failed prepare, classified. The server refusing the statement itself (no such keyspace or
/// table, a column it lacks, no permission) is a schema or setup problem that waiting cannot
/// fix: [`Error::Config`], naming `backchannel schema apply`. Anything else (no connected node,
/// a node shutting down, a timeout) is an outage, [`Error::Store`], which startup waits out.
fn prepare_err(q: &str, e: scylla::errors::PrepareError) -> Error {
    use scylla::errors::{DbError, PrepareError, RequestAttemptError as A};
    match &e {
        PrepareError::AllAttemptsFailed {
            first_attempt:
                A::DbError(
                    DbError::Invalid
                    | DbError::SyntaxError
                    | DbError::Unauthorized
                    | DbError::ConfigError
                    | DbError::AuthenticationError,
                    msg,
                ),
        } => Error::Config(format!(
            "the store refused `{q}`: {msg} (is the schema applied? `backchannel schema apply`)"
        )),
        _ => Error::store(format!("prepare {q}"), e),
    }
}

impl Statements {
    /// Prepares every statement against an existing schema in `keyspace`.
    pub(super) async fn prepare(session: &Session, keyspace: &str) -> Result<Statements> {
        let ks = keyspace;
        let prep = |q: String| async move {
            let mut p = session
                .prepare(q.as_str())
                .await
                .map_err(|e| prepare_err(&q, e))?;
            p.set_is_idempotent(true);
            Ok::<_, Error>(p)
        };
        let lwt = |q: String| async move {
            session
                .prepare(q.as_str())
                .await
                .map_err(|e| prepare_err(&q, e))
        };
        Ok(Statements {
            insert_mention: prep(format!(
                "INSERT INTO {ks}.mentions (id, source, created_at, fields_version, body) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            insert_by_topic: prep(format!(
                "INSERT INTO {ks}.topic_mentions (topic, minute, bucket, created_at, id, sentiment, hashtags) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            plans: prep(format!(
                "SELECT minute, topic, width, fixed FROM {ks}.topic_widths WHERE hour = ?"
            ))
            .await?,
            plan: prep(format!(
                "SELECT width FROM {ks}.topic_widths WHERE hour = ? AND minute = ? AND topic = ?"
            ))
            .await?,
            plan_note: prep(format!(
                "INSERT INTO {ks}.topic_widths (hour, minute, topic, width, fixed) VALUES (?, ?, ?, ?, false)"
            ))
            .await?,
            mark_dirty: prep(format!(
                "INSERT INTO {ks}.dirty_marks (bucket, shard, topic, minute, marked_at) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            get_mention: prep(format!("SELECT body FROM {ks}.mentions WHERE id = ?")).await?,
            delete_mention: prep(format!("DELETE FROM {ks}.mentions WHERE id = ?")).await?,
            ttl_of_mention: prep(format!("SELECT TTL(body), WRITETIME(body) FROM {ks}.mentions WHERE id = ?"))
                .await?,
            refile_mention: prep(format!(
                "INSERT INTO {ks}.mentions (id, source, created_at, fields_version, body) VALUES (?, ?, ?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            ))
            .await?,
            refile_by_topic: prep(format!(
                "INSERT INTO {ks}.topic_mentions (topic, minute, bucket, created_at, id, sentiment, hashtags) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
            ))
            .await?,
            unfile: prep(format!(
                "DELETE FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ? AND created_at = ? AND id = ?"
            ))
            .await?,
            spill: prep(format!(
                "UPDATE {ks}.topic_mentions SET spilled = ? WHERE topic = ? AND minute = ? AND bucket = 0"
            ))
            .await?,
            spilled: prep(format!(
                "SELECT spilled FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = 0 LIMIT 1"
            ))
            .await?,
            scan: prep(format!(
                "SELECT id, body, token(id) FROM {ks}.mentions WHERE token(id) > ? LIMIT ?"
            ))
            .await?,
            recent: prep(format!(
                "SELECT id, created_at, spilled FROM {ks}.topic_mentions \
                 WHERE topic = ? AND minute = ? AND bucket = ? LIMIT ?"
            ))
            .await?,
            recent_before: prep(format!(
                "SELECT id, created_at, spilled FROM {ks}.topic_mentions \
                 WHERE topic = ? AND minute = ? AND bucket = ? AND created_at <= ? LIMIT ?"
            ))
            .await?,
            dirty_shard: prep(format!(
                "SELECT topic, minute, marked_at, WRITETIME(marked_at) FROM {ks}.dirty_marks \
                 WHERE bucket = ? AND shard = ?"
            ))
            .await?,
            minute_rows: prep(format!(
                "SELECT id, sentiment, hashtags, spilled FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"
            ))
            .await?,
            write_stats: prep(format!(
                "INSERT INTO {ks}.topic_minute_stats (topic, day, minute, mentions, sentiment_sum, positive, \
                 neutral, negative, hashtags, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
            ))
            .await?,
            stats_minutes: prep(format!("SELECT minute, mentions FROM {ks}.topic_minute_stats WHERE topic = ? AND day = ? AND minute <= ?")).await?,
            read_stats: prep(format!(
                "SELECT minute, mentions, sentiment_sum, positive, neutral, negative, hashtags \
                 FROM {ks}.topic_minute_stats WHERE topic = ? AND day = ? AND minute >= ? AND minute < ?"
            ))
            .await?,
            clear_dirty: prep(format!(
                "DELETE FROM {ks}.dirty_marks USING TIMESTAMP ? \
                 WHERE bucket = ? AND shard = ? AND topic = ? AND minute = ?"
            ))
            .await?,
            revision: prep(format!("SELECT revision FROM {ks}.signal_revision WHERE scope = 'signals'")).await?,
            bump_revision: prep(format!("UPDATE {ks}.signal_revision SET revision = ? WHERE scope = 'signals'")).await?,
            all_signals: prep(format!("SELECT tenant, id, version, query, options FROM {ks}.signals")).await?,
            put_signal: prep(format!(
                "INSERT INTO {ks}.signals (tenant, id, version, query, options, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            get_signal: prep(format!("SELECT version FROM {ks}.signals WHERE tenant = ? AND id = ?")).await?,
            delete_signal: prep(format!("DELETE FROM {ks}.signals WHERE tenant = ? AND id = ?")).await?,
            put_schema: prep(format!("INSERT INTO {ks}.record_schemas (fingerprint, avsc) VALUES (?, ?)")).await?,
            get_schema: prep(format!("SELECT avsc FROM {ks}.record_schemas WHERE fingerprint = ?")).await?,
            put_tenant: prep(format!("INSERT INTO {ks}.tenants (name, created_at) VALUES (?, ?)")).await?,
            all_tenants: prep(format!("SELECT name, created_at FROM {ks}.tenants")).await?,
            put_key: prep(format!(
                "INSERT INTO {ks}.api_keys (key_id, tenant, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            get_key: prep(format!(
                "SELECT key_id, tenant, hash, created_at, revoked_at FROM {ks}.api_keys WHERE key_id = ?"
            ))
            .await?,
            all_keys: prep(format!("SELECT key_id, tenant, hash, created_at, revoked_at FROM {ks}.api_keys")).await?,
            get_detector: prep(format!("SELECT state FROM {ks}.alert_detectors WHERE tenant = ? AND signal = ?")).await?,
            put_detector: prep(format!("INSERT INTO {ks}.alert_detectors (tenant, signal, state) VALUES (?, ?, ?)")).await?,
            list_detectors: prep(format!("SELECT tenant, signal FROM {ks}.alert_detectors")).await?,
            delete_detector: prep(format!("DELETE FROM {ks}.alert_detectors WHERE tenant = ? AND signal = ?")).await?,
            put_alert: prep(format!(
                "INSERT INTO {ks}.alerts (tenant, signal, started_at, id, body) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            get_alerts: prep(format!("SELECT body FROM {ks}.alerts WHERE tenant = ? AND signal = ? LIMIT ?")).await?,
            get_alert_settings: prep(format!("SELECT settings FROM {ks}.alert_settings WHERE tenant = ? AND signal = ?"))
                .await?,
            put_alert_settings: prep(format!(
                "INSERT INTO {ks}.alert_settings (tenant, signal, settings) VALUES (?, ?, ?)"
            ))
            .await?,
            delete_alert_settings: prep(format!("DELETE FROM {ks}.alert_settings WHERE tenant = ? AND signal = ?"))
                .await?,
            get_webhook: prep(format!("SELECT url, secret FROM {ks}.webhooks WHERE tenant = ?")).await?,
            put_webhook: prep(format!("INSERT INTO {ks}.webhooks (tenant, url, secret) VALUES (?, ?, ?)")).await?,
            delete_webhook: prep(format!("DELETE FROM {ks}.webhooks WHERE tenant = ?")).await?,
            take_lease: lwt(format!("INSERT INTO {ks}.alert_leases (shard, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?"))
                .await?,
            renew_lease: lwt(format!("UPDATE {ks}.alert_leases USING TTL ? SET owner = ? WHERE shard = ? IF owner = ?"))
                .await?,
            new_plan: lwt(format!(
                "INSERT INTO {ks}.topic_widths (hour, minute, topic, width, fixed) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
            ))
            .await?,
            widen_plan: lwt(format!(
                "UPDATE {ks}.topic_widths SET width = ? WHERE hour = ? AND minute = ? AND topic = ? \
                 IF width = ? AND fixed = false"
            ))
            .await?,
            freeze_plan: lwt(format!(
                "UPDATE {ks}.topic_widths SET width = ?, fixed = true \
                 WHERE hour = ? AND minute = ? AND topic = ? IF width = ? AND fixed = false"
            ))
            .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use scylla::errors::{ConnectionPoolError, DbError, PrepareError, RequestAttemptError};

    #[test]
    fn a_missing_schema_is_fatal_and_an_outage_is_waited_out() {
        let unconfigured = PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(
                DbError::Invalid,
                "unconfigured table mentions".into(),
            ),
        };
        let e = prepare_err("SELECT 1", unconfigured);
        assert_eq!(e.class(), ErrorClass::Internal);
        assert!(e.to_string().contains("schema apply"), "{e}");
        let shutting_down = PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(DbError::ServerError, "shutdown".into()),
        };
        assert_eq!(
            prepare_err("SELECT 1", shutting_down).class(),
            ErrorClass::External
        );
        let no_pool = PrepareError::ConnectionPoolError(ConnectionPoolError::Initializing);
        assert_eq!(
            prepare_err("SELECT 1", no_pool).class(),
            ErrorClass::External
        );
    }
}
