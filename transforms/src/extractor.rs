//! The contract between the catalogue and the field groups: an [`Extractor`] computes a group of
//! related fields from the shared [`Analysis`] of one mention.

use crate::analysis::Analysis;
use crate::registry::{FieldSpec, FieldWriter};

/// A group of related fields computed together in one call.
///
/// Contract: `extract` is pure and synchronous (no I/O, no locks, no clock: time comes from the
/// mention), finishes in time bounded by the capped text length, never panics on any input, and
/// writes every non-nullable field it declares.
pub trait Extractor: Send + Sync + 'static {
    /// snake_case group name, e.g. `"sentiment"`.
    fn name(&self) -> &'static str;
    /// Bumped whenever the output for some input would change.
    fn version(&self) -> u32;
    /// The fields this extractor writes, in the order of its local indices.
    fn fields(&self) -> &'static [FieldSpec];
    /// Computes the fields for one mention.
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>);
}

impl std::fmt::Debug for dyn Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name(), self.version())
    }
}
