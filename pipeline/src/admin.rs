//! The operator's actions on tenants, keys and signals (`backchannel tenants …`,
//! `backchannel signals put|delete|list`), and where they run.
//!
//! They run against the configured store directly: ScyllaDB in distributed mode, the redb file in
//! embedded mode. A running `backchannel run` holds that file, so then the action is sent to that
//! process's API (`POST /admin/v1/manage` on `api.listen`) with the operator key, which both
//! sides read from the environment or a file (`api.operator_key_env`, `api.operator_key_file`),
//! never from the command line. Operators are not bound by the tenants' limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transforms::signals::SignalOptions;

use crate::alerts::{self, AlertStore};
use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::signals::{self, SignalStore};
use crate::tenants::{self, TenantStore};

/// One operator action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    PutSignal {
        tenant: String,
        id: String,
        query: String,
        #[serde(default)]
        options: SignalOptions,
    },
    DeleteSignal {
        tenant: String,
        id: String,
    },
    ListSignals {
        tenant: Option<String>,
    },
    CreateTenant {
        name: String,
    },
    ListTenants,
    RevokeKey {
        tenant: String,
        key_id: String,
    },
    RotateKey {
        tenant: String,
        /// How long the tenant's other keys stay valid.
        grace: Duration,
    },
    ListAlerts {
        tenant: String,
        signal: String,
        limit: usize,
    },
    SetWebhook {
        tenant: String,
        url: String,
    },
    RemoveWebhook {
        tenant: String,
    },
    TestWebhook {
        tenant: String,
    },
}

/// What an action reports: `out` for stdout (a new key alone on its line, so scripts can take
/// it), `note` for stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub out: String,
    pub note: String,
}

fn out(s: String) -> Reply {
    Reply {
        out: s,
        note: String::new(),
    }
}

/// Runs `action` against `store`.
pub async fn apply<S: SignalStore + TenantStore + AlertStore>(
    store: &S,
    action: Action,
    webhook: &crate::alerts::webhook::WebhookSettings,
) -> Result<Reply> {
    Ok(match action {
        Action::PutSignal {
            tenant,
            id,
            query,
            options,
        } => {
            let v = signals::put(store, &tenant, &id, &query, options).await?;
            out(format!("saved {tenant}/{id} version {v}"))
        }
        Action::DeleteSignal { tenant, id } => out(if store.delete_signal(&tenant, &id).await? {
            format!("deleted {tenant}/{id}")
        } else {
            format!("no signal {tenant}/{id}")
        }),
        Action::ListSignals { tenant } => {
            let (_, mut all) = store.load_signals().await?;
            all.retain(|s| tenant.as_deref().is_none_or(|t| t == s.tenant));
            all.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
            out(json_lines(&all))
        }
        Action::CreateTenant { name } => Reply {
            out: tenants::create(store, &name).await?,
            note: format!(
                "created tenant {name}; its API key is above and is shown only this once \
                 (the store keeps a hash of it)"
            ),
        },
        Action::ListTenants => out(json_lines(&tenants::list(store).await?)),
        Action::RevokeKey { tenant, key_id } => {
            if !tenants::revoke(store, &tenant, &key_id).await? {
                return Err(Error::Config(format!(
                    "tenant {tenant:?} has no key {key_id}"
                )));
            }
            out(format!(
                "revoked key {key_id} of {tenant} (the API stops accepting it within \
                 api.key_cache_ttl)"
            ))
        }
        Action::RotateKey { tenant, grace } => {
            let (key, retired) = tenants::rotate(store, &tenant, grace).await?;
            let note = match retired.as_slice() {
                [] => format!("new key for {tenant}, shown only this once"),
                ids => format!(
                    "new key for {tenant}, shown only this once; the old key(s) {} stay valid \
                     for {}",
                    ids.join(", "),
                    humantime::format_duration(grace)
                ),
            };
            Reply { out: key, note }
        }
        Action::ListAlerts {
            tenant,
            signal,
            limit,
        } => out(json_lines(&store.alerts(&tenant, &signal, limit).await?)),
        Action::SetWebhook { tenant, url } => {
            let hook = alerts::webhook::create(&tenant, &url)?;
            store.put_webhook(&tenant, Some(&hook)).await?;
            Reply {
                out: hook.secret,
                note: format!(
                    "alerts of {tenant} go to {url}, signed with the secret above (shown only \
                     this once; setting the webhook again makes a new one)"
                ),
            }
        }
        Action::RemoveWebhook { tenant } => {
            store.put_webhook(&tenant, None).await?;
            out(format!("{tenant} has no webhook"))
        }
        Action::TestWebhook { tenant } => {
            let Some(hook) = store.webhook(&tenant).await? else {
                return Err(Error::Config(format!("tenant {tenant:?} has no webhook")));
            };
            out(alerts::webhook::test(&tenant, hook, webhook).await?)
        }
    })
}

fn json_lines<T: Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `action` on the configured store, or through the running embedded pipeline that holds it.
pub async fn manage(config: &Config, action: Action) -> Result<Reply> {
    let webhook = config.alerts.settings()?.webhook;
    match config.pipeline.mode {
        Mode::Distributed => {
            let store = crate::services::scylla_store(config).await?;
            apply(&store, action, &webhook).await
        }
        Mode::Embedded => match crate::embedded::RedbStore::open(&config.embedded.data_dir) {
            Ok(store) => apply(&store, action, &webhook).await,
            Err(Error::StoreInUse { .. }) => via_http(config, action).await,
            Err(e) => Err(e),
        },
    }
}

/// Sends the action to a running embedded pipeline's operator endpoint.
async fn via_http(config: &Config, action: Action) -> Result<Reply> {
    let listen = &config.api.listen;
    let Some(key) = config.api.operator_key()? else {
        return Err(Error::Config(format!(
            "the data directory is in use by a running pipeline; to manage it through its API \
             on {listen}, give both the same operator key in ${} (or api.operator_key_file)",
            config.api.operator_key_env
        )));
    };
    let unreachable = |e: &dyn std::fmt::Display| {
        Error::Config(format!(
            "the data directory is in use and its API at {listen} does not answer: {e}"
        ))
    };
    let client = collectors::common::http_client().map_err(|e| unreachable(&e))?;
    let body = serde_json::to_vec(&action).map_err(|e| Error::internal("an action", e))?;
    let response = client
        .post(format!("http://{listen}/admin/v1/manage"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status();
    let reply = response.text().await.map_err(|e| unreachable(&e))?;
    if !status.is_success() {
        return Err(Error::Config(format!(
            "POST /admin/v1/manage: {} {reply}",
            status.as_u16()
        )));
    }
    serde_json::from_str(&reply).map_err(|e| Error::internal("reading the API's reply", e))
}
