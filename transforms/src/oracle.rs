//! What every live-oracle test does first (test builds only): find the reference program and
//! decide what its absence means. A missing oracle fails the test when
//! `BACKCHANNEL_TEST_SERVICES=required` or `CI` is set (as `deploy/dev/test` and CI do, after
//! installing the oracles), and is skipped loudly otherwise.

use std::process::Command;

/// The Python the oracles run under: `BACKCHANNEL_PYTHON`, else `python3`.
pub(crate) fn python() -> String {
    std::env::var("BACKCHANNEL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether a missing oracle fails the test instead of skipping it.
pub(crate) fn required() -> bool {
    std::env::var("BACKCHANNEL_TEST_SERVICES").is_ok_and(|v| v == "required")
        || std::env::var_os("CI").is_some()
}

/// Reports an oracle that cannot run: fails the test when oracles are required, else prints
/// `SKIPPED (oracle missing): …`.
pub(crate) fn missing(msg: &str) {
    let msg = format!("SKIPPED (oracle missing): {msg}");
    assert!(!required(), "{msg}");
    println!("{msg}");
    eprintln!("{msg}");
}

/// Whether `program probe…` succeeds (e.g. `python3 -c "import empath"`); when it does not,
/// reports `what` as [`missing`] and returns false.
pub(crate) fn available(program: &str, probe: &[&str], what: &str) -> bool {
    let out = Command::new(program).args(probe).output();
    if out.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = match &out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    missing(&format!(
        "{what} is not available through `{program}`: {why}"
    ));
    false
}
