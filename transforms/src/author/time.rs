//! The `time` group: when the mention was written (UTC calendar facts) and how long it took us
//! to collect it.

use chrono::{Datelike, Timelike};

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Minutes per bucket of `time_minute_bucket`.
pub const BUCKET_MINUTES: u32 = 15;

/// Calendar position of `created_at` (UTC) and the collection latency.
#[derive(Debug)]
pub struct Timing;

fields! {
    const FIELDS, mod f = [
        HOUR => FieldSpec::int(
            "time_hour_utc",
            "Hour of day (0–23, UTC) the mention was created.",
        ),
        WEEKDAY => FieldSpec::int(
            "time_day_of_week",
            "ISO day of week of creation (UTC): 1 = Monday … 7 = Sunday.",
        ),
        WEEKEND => FieldSpec::bool("time_weekend", "Created on a Saturday or Sunday (UTC)."),
        BUCKET => FieldSpec::int(
            "time_minute_bucket",
            "Quarter-hour of the day of creation (UTC): minute of day / 15, 0–95.",
        ),
        DAY => FieldSpec::int(
            "time_day_of_month",
            "Day of the month of creation (UTC), 1–31.",
        ),
        MONTH => FieldSpec::int("time_month", "Month of creation (UTC), 1–12."),
        LATENCY => FieldSpec::float(
            "time_collection_latency_s",
            "Seconds from creation to collection (the post's age when collected); negative when the source's clock runs ahead of ours.",
        ),
        HOUR_OF_WEEK => FieldSpec::int(
            "time_hour_of_week",
            "Hour of the week of creation (UTC): 0 = Monday 00:00 … 167 = Sunday 23:00.",
        ),
    ]
}

impl Extractor for Timing {
    fn name(&self) -> &'static str {
        "time"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let t = a.mention.created_at;
        let weekday = t.weekday().number_from_monday();
        out.int(f::HOUR, i64::from(t.hour()));
        out.int(f::WEEKDAY, i64::from(weekday));
        out.bool(f::WEEKEND, weekday >= 6);
        out.int(
            f::BUCKET,
            i64::from((t.hour() * 60 + t.minute()) / BUCKET_MINUTES),
        );
        out.int(f::DAY, i64::from(t.day()));
        out.int(f::MONTH, i64::from(t.month()));
        out.int(f::HOUR_OF_WEEK, i64::from((weekday - 1) * 24 + t.hour()));
        let latency = a.mention.collected_at - t;
        out.float(f::LATENCY, latency.num_milliseconds() as f64 / 1000.0);
    }
}
