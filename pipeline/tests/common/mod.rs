//! Shared by the integration tests that talk to the real services `deploy/dev/services` starts.
#![allow(dead_code)]

pub mod certs;
pub mod receiver;

use pipeline::alerts::webhook;

use std::time::Duration;

pub const KAFKA: &str = "127.0.0.1:9092";
pub const CQL: &str = "127.0.0.1:9042";
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// Whether a missing service must fail the test: under `deploy/dev/test` and in CI it must.
pub fn services_required() -> bool {
    std::env::var("BACKCHANNEL_TEST_SERVICES").is_ok_and(|v| v == "required")
        || std::env::var_os("CI").is_some()
}

/// Checks that `addr` accepts TCP connections. When it does not: panics if services are required,
/// otherwise prints a loud SKIPPED line and returns false so a plain `cargo test` on a laptop
/// without services still runs everything else.
pub fn service_up(name: &str, addr: &str) -> bool {
    let addr = addr.trim_start_matches("redis://");
    let ok = addr
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some();
    if !ok {
        assert!(
            !services_required(),
            "{name} is not reachable at {addr}; start it with `deploy/dev/services up` (required in CI)"
        );
        eprintln!(
            "SKIPPED: {name} is not reachable at {addr}; run `deploy/dev/test` to run this test"
        );
    }
    ok
}

/// A name no earlier run used, so tests never see each other's data.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
