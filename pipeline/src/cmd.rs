//! One module per `backchannel` command. Each builds what it needs through [`crate::services`]
//! and reads top to bottom; `main.rs` only parses the command line and dispatches here.

pub mod collect;
pub mod doctor;
pub mod enrich;
pub mod fields;
pub mod reprocess;
pub mod run;
pub mod schema;
pub mod serve;
pub mod signals;
pub mod sources;
pub mod worker;

/// `backchannel signals put|delete|list` and `backchannel tenants …`: runs the operator action
/// (on the store, or through the running pipeline that holds it; see [`crate::admin`]) and
/// prints its report: the result on stdout (a new key alone on its line), notes on stderr.
pub async fn manage(
    config: &crate::config::Config,
    action: crate::admin::Action,
) -> crate::Result<()> {
    let reply = crate::admin::manage(config, action).await?;
    if !reply.out.is_empty() {
        println!("{}", reply.out);
    }
    if !reply.note.is_empty() {
        eprintln!("{}", reply.note);
    }
    Ok(())
}
