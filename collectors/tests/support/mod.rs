//! Helpers shared by the integration tests: draining item streams and scripted local servers.
#![allow(dead_code)]

pub mod http;
pub mod ws;

use std::time::Duration;

use collectors::{CollectorError, Event, Item, ItemStream};
use futures_util::StreamExt;
use model::Mention;

/// Takes items until `n` arrived, the stream ended, or `within` passed.
pub async fn take(
    stream: &mut ItemStream,
    n: usize,
    within: Duration,
) -> Vec<Result<Item, CollectorError>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(item)) => out.push(item),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// The frames among `items` handed on to be dead-lettered, as (reason, detail).
pub fn malformed(items: &[Result<Item, CollectorError>]) -> Vec<(&'static str, String)> {
    items
        .iter()
        .filter_map(|r| match r {
            Ok(Item {
                event: Event::Malformed(bad),
                ..
            }) => Some((bad.reason, bad.detail.clone())),
            _ => None,
        })
        .collect()
}

/// The mentions among `items` (panics on an error item: tests want to see it).
pub fn mentions(items: &[Result<Item, CollectorError>]) -> Vec<Mention> {
    items
        .iter()
        .filter_map(|r| match r {
            Ok(Item {
                event: Event::Mention(m),
                ..
            }) => Some((**m).clone()),
            Ok(_) => None,
            Err(e) => panic!("unexpected error item: {e}"),
        })
        .collect()
}

/// The cursor of the last item.
pub fn last_cursor(items: &[Result<Item, CollectorError>]) -> Option<collectors::Cursor> {
    items
        .iter()
        .rev()
        .find_map(|r| r.as_ref().ok().and_then(|i| i.cursor.clone()))
}
