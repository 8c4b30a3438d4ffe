//! The field registry's building blocks: what a field is, how its value is held, and the writer an
//! extractor fills.
//!
//! Output is a dense [`Record`](crate::Record): one [`Value`] slot per field, indexed by field id,
//! reused from one mention to the next so that strings and lists keep their capacity and the hot
//! path does not allocate per field.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// The type of a field's value, as it appears in the `fields` JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    /// A signed integer (JSON number without fraction).
    Int,
    /// A finite float (JSON number). Never NaN or infinite.
    Float,
    Str,
    /// A list of strings, in order of appearance.
    StrList,
    /// A list of non-negative integers below 2^53 (safe in JavaScript).
    IntList,
}

impl FieldType {
    /// The name used in `backchannel fields` and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Str => "string",
            FieldType::StrList => "string[]",
            FieldType::IntList => "int[]",
        }
    }
}

/// One field: its name (snake_case, unique), type, and a one-line doc.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub doc: &'static str,
    /// Whether `null` is a legitimate value (e.g. account age when the source gives no creation
    /// date). A non-nullable field is written for every mention.
    pub nullable: bool,
}

impl FieldSpec {
    pub const fn new(name: &'static str, ty: FieldType, doc: &'static str) -> FieldSpec {
        FieldSpec {
            name,
            ty,
            doc,
            nullable: false,
        }
    }
    pub const fn bool(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Bool, doc)
    }
    pub const fn int(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Int, doc)
    }
    pub const fn float(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Float, doc)
    }
    pub const fn str(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::Str, doc)
    }
    pub const fn strs(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::StrList, doc)
    }
    pub const fn ints(name: &'static str, doc: &'static str) -> FieldSpec {
        FieldSpec::new(name, FieldType::IntList, doc)
    }
    /// Marks the field as allowed to be `null`.
    pub const fn nullable(self) -> FieldSpec {
        FieldSpec {
            nullable: true,
            ..self
        }
    }
}

/// A computed field value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Not applicable to this mention (only for nullable fields), or not written yet.
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    StrList(Vec<String>),
    IntList(Vec<u64>),
}

impl Value {
    /// The type this value has, or `None` for `Null`.
    pub fn ty(&self) -> Option<FieldType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => FieldType::Bool,
            Value::Int(_) => FieldType::Int,
            Value::Float(_) => FieldType::Float,
            Value::Str(_) => FieldType::Str,
            Value::StrList(_) => FieldType::StrList,
            Value::IntList(_) => FieldType::IntList,
        })
    }

    /// Converts to a `serde_json::Value` (tests and tools; the hot path serialises directly).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(v) => s.serialize_str(v),
            Value::StrList(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::IntList(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
        }
    }
}

/// The slice of a record that belongs to one extractor; indices are local to its `fields()`.
#[derive(Debug)]
pub struct FieldWriter<'r> {
    slots: &'r mut [Value],
    specs: &'static [FieldSpec],
}

impl<'r> FieldWriter<'r> {
    pub(crate) fn new(slots: &'r mut [Value], specs: &'static [FieldSpec]) -> Self {
        debug_assert_eq!(slots.len(), specs.len());
        FieldWriter { slots, specs }
    }

    #[inline]
    fn check(&self, i: usize, ty: FieldType) {
        debug_assert_eq!(
            self.specs[i].ty, ty,
            "field {} written as {:?}",
            self.specs[i].name, ty
        );
    }

    #[inline]
    pub fn bool(&mut self, i: usize, v: bool) {
        self.check(i, FieldType::Bool);
        match &mut self.slots[i] {
            Value::Bool(x) => *x = v,
            slot => *slot = Value::Bool(v),
        }
    }

    #[inline]
    pub fn int(&mut self, i: usize, v: i64) {
        self.check(i, FieldType::Int);
        // In place when the slot already holds this variant (every mention after the first):
        // assigning a whole `Value` would run its drop glue for each field.
        match &mut self.slots[i] {
            Value::Int(x) => *x = v,
            slot => *slot = Value::Int(v),
        }
    }

    /// Writes a count; saturates instead of wrapping.
    #[inline]
    pub fn count(&mut self, i: usize, v: usize) {
        self.int(i, i64::try_from(v).unwrap_or(i64::MAX));
    }

    /// Writes a float; a NaN or infinity becomes `null` on nullable fields and 0 otherwise, so
    /// the output is always valid JSON.
    #[inline]
    pub fn float(&mut self, i: usize, v: f64) {
        self.check(i, FieldType::Float);
        let v = if v.is_finite() {
            v
        } else if self.specs[i].nullable {
            self.slots[i] = Value::Null;
            return;
        } else {
            0.0
        };
        match &mut self.slots[i] {
            Value::Float(x) => *x = v,
            slot => *slot = Value::Float(v),
        }
    }

    /// Writes a string, reusing the slot's buffer.
    #[inline]
    pub fn str(&mut self, i: usize, v: &str) {
        self.check(i, FieldType::Str);
        match &mut self.slots[i] {
            Value::Str(s) => {
                s.clear();
                s.push_str(v);
            }
            slot => *slot = Value::Str(v.to_owned()),
        }
    }

    /// Returns the slot's list of strings, emptied, for the caller to fill.
    #[inline]
    pub fn strs(&mut self, i: usize) -> &mut Vec<String> {
        self.check(i, FieldType::StrList);
        if !matches!(self.slots[i], Value::StrList(_)) {
            self.slots[i] = Value::StrList(Vec::new());
        }
        match &mut self.slots[i] {
            Value::StrList(v) => {
                v.clear();
                v
            }
            _ => unreachable!("slot was just set to a list"),
        }
    }

    /// A writer that fills the slot's list of strings, overwriting the strings already there in
    /// place so that their buffers are reused from one mention to the next (no allocation per
    /// element once the record has warmed up). The list ends where the writer is dropped.
    #[inline]
    pub fn strs_reuse(&mut self, i: usize) -> StrsWriter<'_> {
        self.check(i, FieldType::StrList);
        if !matches!(self.slots[i], Value::StrList(_)) {
            self.slots[i] = Value::StrList(Vec::new());
        }
        match &mut self.slots[i] {
            Value::StrList(list) => StrsWriter { list, len: 0 },
            _ => unreachable!("slot was just set to a list"),
        }
    }

    /// Returns the slot's list of integers, emptied, for the caller to fill.
    #[inline]
    pub fn ints(&mut self, i: usize) -> &mut Vec<u64> {
        self.check(i, FieldType::IntList);
        if !matches!(self.slots[i], Value::IntList(_)) {
            self.slots[i] = Value::IntList(Vec::new());
        }
        match &mut self.slots[i] {
            Value::IntList(v) => {
                v.clear();
                v
            }
            _ => unreachable!("slot was just set to a list"),
        }
    }

    /// Writes `null` (only for nullable fields).
    #[inline]
    pub fn null(&mut self, i: usize) {
        debug_assert!(
            self.specs[i].nullable,
            "field {} is not nullable",
            self.specs[i].name
        );
        self.slots[i] = Value::Null;
    }

    /// Writes `Some(v)` as a float, `None` as null.
    #[inline]
    pub fn opt_float(&mut self, i: usize, v: Option<f64>) {
        match v {
            Some(v) => self.float(i, v),
            None => self.null(i),
        }
    }

    /// Writes `Some(v)` as an int, `None` as null.
    #[inline]
    pub fn opt_int(&mut self, i: usize, v: Option<i64>) {
        match v {
            Some(v) => self.int(i, v),
            None => self.null(i),
        }
    }
}

/// Fills a list-of-strings field in place (see [`FieldWriter::strs_reuse`]).
#[derive(Debug)]
pub struct StrsWriter<'w> {
    list: &'w mut Vec<String>,
    len: usize,
}

impl StrsWriter<'_> {
    /// Appends `s`.
    #[inline]
    pub fn push(&mut self, s: &str) {
        self.push_with(|buf| buf.push_str(s));
    }

    /// Appends a string that `fill` writes into an empty buffer.
    #[inline]
    pub fn push_with(&mut self, fill: impl FnOnce(&mut String)) {
        match self.list.get_mut(self.len) {
            Some(buf) => {
                buf.clear();
                fill(buf);
            }
            None => {
                let mut buf = SPARE.with_borrow_mut(Vec::pop).unwrap_or_default();
                buf.clear();
                fill(&mut buf);
                self.list.push(buf);
            }
        }
        self.len += 1;
    }

    /// How many strings have been written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for StrsWriter<'_> {
    fn drop(&mut self) {
        if self.list.len() > self.len {
            // Keep the buffers for the next longer list rather than freeing them.
            SPARE.with_borrow_mut(|spare| {
                let room = SPARE_MAX.saturating_sub(spare.len());
                let end = self.list.len().min(self.len + room);
                // Only short buffers: a hostile long token must not stay pinned in memory.
                spare.extend(
                    self.list
                        .drain(self.len..end)
                        .filter(|s| s.capacity() <= SPARE_CAPACITY),
                );
            });
            self.list.truncate(self.len);
        }
    }
}

/// At most this many spare string buffers, of at most `SPARE_CAPACITY` bytes, are kept per
/// thread.
const SPARE_MAX: usize = 1_024;
const SPARE_CAPACITY: usize = 256;

thread_local! {
    /// String buffers cut off the end of a list by [`StrsWriter`], for the next list to grow into.
    static SPARE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Declares a group's fields once: the table of [`FieldSpec`]s an extractor returns from
/// `fields()`, and a module of their local indices for [`FieldWriter`], in the same order, so
/// adding a field is one entry and an index can never point at the wrong field.
///
/// ```ignore
/// fields! {
///     const FIELDS, mod f = [
///         WORDS => FieldSpec::int("text_words", "Words in the text."),
///         /// First of the per-script counts, in `SCRIPTS` order.
///         SCRIPTS => [
///             FieldSpec::int("latin_letters", "Latin letters."),
///             FieldSpec::int("greek_letters", "Greek letters."),
///         ],
///     ]
/// }
/// // f::WORDS == 0, f::SCRIPTS == 1; FIELDS has three entries.
/// ```
///
/// `NAME => [a, b, …]` gives a run of fields one index, its first's: for groups written in a
/// loop.
macro_rules! fields {
    ($(#[$meta:meta])* const $table:ident, mod $index:ident = [$($body:tt)*]) => {
        $crate::registry::fields!(@munch [$(#[$meta])* $table $index] (0usize) [] [] $($body)*);
    };
    // A run of fields under one index.
    (@munch $head:tt ($at:expr) [$($specs:expr,)*] [$($consts:tt)*]
        $(#[$attr:meta])* $name:ident => [$($spec:expr),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::registry::fields!(@munch $head
            ($at + <[&str]>::len(&[$(stringify!($spec)),*]))
            [$($specs,)* $($spec,)*]
            [$($consts)* $(#[$attr])* pub const $name: usize = $at;]
            $($($rest)*)?);
    };
    // One field.
    (@munch $head:tt ($at:expr) [$($specs:expr,)*] [$($consts:tt)*]
        $(#[$attr:meta])* $name:ident => $spec:expr $(, $($rest:tt)*)?) => {
        $crate::registry::fields!(@munch $head
            ($at + 1)
            [$($specs,)* $spec,]
            [$($consts)* $(#[$attr])* pub const $name: usize = $at;]
            $($($rest)*)?);
    };
    (@munch [$(#[$meta:meta])* $table:ident $index:ident] ($at:expr) [$($specs:expr,)*]
        [$($consts:tt)*]) => {
        $(#[$meta])*
        const $table: &[$crate::registry::FieldSpec] = &[$($specs,)*];

        /// Local indices of the fields, in table order.
        mod $index {
            $($consts)*
        }
    };
}
pub(crate) use fields;
