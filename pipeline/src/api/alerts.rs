//! `/v1/signals/{id}/alerts` and `/v1/webhook`: a tenant's alerts and where they are delivered.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Tenant;
use super::routes::{not_found, own_signal};
use super::{ApiState, error, json};
use crate::admin::Action;
use crate::alerts::SignalAlertSettings;
use crate::alerts::detect::DetectorConfig;
use crate::error::Error;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsQuery {
    limit: Option<usize>,
}

/// `GET /v1/signals/{id}/alerts?limit=N`: the signal's alerts, newest incident first, each at
/// its latest state (default 50, at most 500).
pub(super) async fn list(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(50);
    if !(1..=crate::alerts::store::ALERTS_PER_SIGNAL).contains(&limit) {
        return error(&Error::Config(format!(
            "limit: expected 1 to {}, got {limit}",
            crate::alerts::store::ALERTS_PER_SIGNAL
        )));
    }
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    match s.backend.alerts(tenant.to_string(), id, limit).await {
        Ok(alerts) => json(
            StatusCode::OK,
            serde_json::to_vec(&alerts).unwrap_or_default(),
        ),
        Err(e) => error(&e),
    }
}

/// The JSON of a signal's settings: its own, and what the detector runs with (over the
/// built-in defaults; a process configured otherwise applies its own).
fn settings_json(own: &SignalAlertSettings) -> Response {
    let effective = own
        .apply(&DetectorConfig::default())
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .unwrap_or_default();
    json(
        StatusCode::OK,
        serde_json::json!({ "enabled": own.enabled(), "own": own, "effective": effective })
            .to_string()
            .into_bytes(),
    )
}

/// `GET /v1/signals/{id}/alerts/settings`.
pub(super) async fn get_settings(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    match s.backend.alert_settings(tenant.to_string(), id).await {
        Ok(own) => settings_json(&own.unwrap_or_default()),
        Err(e) => error(&e),
    }
}

/// `PUT /v1/signals/{id}/alerts/settings`: the signal's own thresholds (every key optional;
/// `{}` returns to the defaults). Out-of-range values answer 400 naming the key.
pub(super) async fn put_settings(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let own: SignalAlertSettings = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };
    if let Err(e) = own.apply(&DetectorConfig::default()) {
        return error(&e);
    }
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    match s
        .backend
        .put_alert_settings(tenant.to_string(), id, own.clone())
        .await
    {
        Ok(()) => settings_json(&own),
        Err(e) => error(&e),
    }
}

/// `GET /v1/webhook`: where the tenant's alerts go (never the secret).
pub(super) async fn get_webhook(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> Response {
    match s.backend.webhook(tenant.to_string()).await {
        Ok(Some(hook)) => json(
            StatusCode::OK,
            serde_json::json!({ "url": hook.url })
                .to_string()
                .into_bytes(),
        ),
        Ok(None) => not_found("webhook"),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutWebhook {
    url: String,
}

/// `PUT /v1/webhook` `{"url": …}`: sets the webhook and answers its new signing secret, shown
/// only this once.
pub(super) async fn put_webhook(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    body: Bytes,
) -> Response {
    let req: PutWebhook = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };
    let url = req.url.clone();
    let action = Action::SetWebhook {
        tenant: tenant.to_string(),
        url: req.url,
    };
    match s.backend.admin(action).await {
        Ok(reply) => json(
            StatusCode::OK,
            serde_json::json!({ "url": url, "secret": reply.out })
                .to_string()
                .into_bytes(),
        ),
        Err(e) => error(&e),
    }
}

/// `DELETE /v1/webhook`.
pub(super) async fn delete_webhook(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> Response {
    let action = Action::RemoveWebhook {
        tenant: tenant.to_string(),
    };
    match s.backend.admin(action).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(&e),
    }
}

/// `POST /v1/webhook/test`: sends one signed test event now; 200 when the receiver took it,
/// 502 naming its answer when not, 404 without a webhook.
pub(super) async fn test_webhook(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> Response {
    match s.backend.webhook(tenant.to_string()).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found("webhook"),
        Err(e) => return error(&e),
    }
    let action = Action::TestWebhook {
        tenant: tenant.to_string(),
    };
    match s.backend.admin(action).await {
        Ok(reply) => json(
            StatusCode::OK,
            serde_json::json!({ "result": reply.out })
                .to_string()
                .into_bytes(),
        ),
        Err(Error::Config(why)) => json(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({ "error": why }).to_string().into_bytes(),
        ),
        Err(e) => error(&e),
    }
}
