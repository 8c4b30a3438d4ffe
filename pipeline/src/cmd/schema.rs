//! `backchannel schema apply|print`: the ScyllaDB schema, with the configured keyspace,
//! replication and TTLs substituted.

use crate::config::Config;
use crate::distributed::scylla;
use crate::error::Result;

/// Prints the CQL that [`apply`] runs.
pub fn print(config: &Config) -> Result<()> {
    let params = scylla::SchemaParams::from_config(&config.scylla)?;
    for stmt in scylla::schema_statements(&params) {
        println!("{stmt};\n");
    }
    Ok(())
}

/// Creates the keyspace and tables if they do not exist (idempotent).
pub async fn apply(config: &Config) -> Result<()> {
    let params = scylla::SchemaParams::from_config(&config.scylla)?;
    let session = scylla::connect(&config.scylla).await?;
    scylla::apply_schema(&session, &params).await?;
    eprintln!("schema applied to keyspace {}", config.scylla.keyspace);
    Ok(())
}
