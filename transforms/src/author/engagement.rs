//! The `engagement` group (counts, rate, amplification, virality) and the pending
//! `engagement_reach` group (quotes and views).

use model::Engagement as Counts;

use super::{int, ratio};
use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Engagement counts and how they compare with each other and with the audience.
#[derive(Debug)]
pub struct Engagement;

fields! {
    const FIELDS, mod f = [
        LIKES => FieldSpec::int(
            "engagement_likes",
            "Likes (favourites, upvotes), if the source says.",
        )
        .nullable(),
        REPOSTS => FieldSpec::int(
            "engagement_reposts",
            "Reposts (retweets, boosts), if the source says.",
        )
        .nullable(),
        REPLIES => FieldSpec::int(
            "engagement_replies",
            "Replies or comments, if the source says.",
        )
        .nullable(),
        TOTAL => FieldSpec::int(
            "engagement_total",
            "Likes + reposts + replies + quotes, over the counts the source reports (views excluded).",
        )
        .nullable(),
        RATE => FieldSpec::float(
            "engagement_rate",
            "engagement_total per follower; null when followers are unknown or zero.",
        )
        .nullable(),
        AMPLIFICATION => FieldSpec::float(
            "engagement_amplification",
            "Share of engagement that re-shares: (reposts + quotes) / (likes + reposts + quotes).",
        )
        .nullable(),
        VIRALITY => FieldSpec::float(
            "engagement_virality",
            "Re-shares per 1,000 followers: 1000·(reposts + quotes) / followers.",
        )
        .nullable(),
        REPLY_SHARE => FieldSpec::float(
            "engagement_reply_share",
            "Share of engagement that is conversation: replies / engagement_total.",
        )
        .nullable(),
        VELOCITY => FieldSpec::float(
            "engagement_velocity",
            "engagement_total per hour of the post's age at collection (age counted as at least a minute).",
        )
        .nullable(),
    ]
}

/// Hours from creation to collection, at least one minute (clocks may disagree).
pub fn age_hours(m: &model::Mention) -> f64 {
    let ms = (m.collected_at - m.created_at).num_milliseconds();
    (ms as f64 / 3_600_000.0).max(1.0 / 60.0)
}

/// Sum of the reported counts among likes, reposts, replies and quotes; `None` if none is.
pub fn total(e: &Counts) -> Option<u64> {
    [e.likes, e.reposts, e.replies, e.quotes]
        .into_iter()
        .flatten()
        .reduce(u64::saturating_add)
}

/// Reposts plus quotes, over those reported; `None` if neither is.
fn reshares(e: &Counts) -> Option<u64> {
    match (e.reposts, e.quotes) {
        (None, None) => None,
        (r, q) => Some(r.unwrap_or(0).saturating_add(q.unwrap_or(0))),
    }
}

impl Extractor for Engagement {
    fn name(&self) -> &'static str {
        "engagement"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let e = &a.mention.engagement;
        let followers = a.mention.author.followers;
        out.opt_int(f::LIKES, e.likes.map(int));
        out.opt_int(f::REPOSTS, e.reposts.map(int));
        out.opt_int(f::REPLIES, e.replies.map(int));
        let tot = total(e);
        out.opt_int(f::TOTAL, tot.map(int));
        out.opt_float(
            f::RATE,
            tot.zip(followers)
                .and_then(|(t, fo)| ratio(t as f64, fo as f64)),
        );
        let re = reshares(e);
        out.opt_float(
            f::AMPLIFICATION,
            re.and_then(|r| ratio(r as f64, r as f64 + e.likes.unwrap_or(0) as f64)),
        );
        out.opt_float(
            f::VIRALITY,
            re.zip(followers)
                .and_then(|(r, fo)| ratio(1000.0 * r as f64, fo as f64)),
        );
        out.opt_float(
            f::REPLY_SHARE,
            e.replies
                .zip(tot)
                .and_then(|(r, t)| ratio(r as f64, t as f64)),
        );
        out.opt_float(f::VELOCITY, tot.map(|t| t as f64 / age_hours(a.mention)));
    }
}

/// Quote and view counts (pending: the corpus reports neither).
#[derive(Debug)]
pub struct Reach;

fields! {
    const REACH_FIELDS, mod r = [
        QUOTES => FieldSpec::int(
            "engagement_quotes",
            "Quotes (re-shares with comment), if the source says.",
        )
        .nullable(),
        VIEWS => FieldSpec::int(
            "engagement_views",
            "Views or impressions, if the source says.",
        )
        .nullable(),
        VIEW_RATE => FieldSpec::float(
            "engagement_view_rate",
            "engagement_total per view; null when views are unknown or zero.",
        )
        .nullable(),
        VIEWS_PER_FOLLOWER => FieldSpec::float(
            "engagement_views_per_follower",
            "Views per follower: how far past its own audience the post travelled.",
        )
        .nullable(),
    ]
}

impl Extractor for Reach {
    fn name(&self) -> &'static str {
        "engagement_reach"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        REACH_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let e = &a.mention.engagement;
        out.opt_int(r::QUOTES, e.quotes.map(int));
        out.opt_int(r::VIEWS, e.views.map(int));
        out.opt_float(
            r::VIEW_RATE,
            total(e)
                .zip(e.views)
                .and_then(|(t, v)| ratio(t as f64, v as f64)),
        );
        out.opt_float(
            r::VIEWS_PER_FOLLOWER,
            e.views
                .zip(a.mention.author.followers)
                .and_then(|(v, fo)| ratio(v as f64, fo as f64)),
        );
    }
}
