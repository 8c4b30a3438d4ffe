//! The `author` group (account size, age, activity, influence, handle shape) and the pending
//! `author_profile` group (verification and display name).

use model::Mention;

use super::{int, ratio};
use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Accounts younger than this many days count as new.
pub const NEW_ACCOUNT_DAYS: f64 = 30.0;

/// Size, age, activity and influence of the account, and the shape of its handle.
#[derive(Debug)]
pub struct Account;

fields! {
    const FIELDS, mod f = [
        FOLLOWERS => FieldSpec::int(
            "author_followers",
            "Accounts following the author, if the source says.",
        )
        .nullable(),
        FOLLOWING => FieldSpec::int(
            "author_following",
            "Accounts the author follows, if the source says.",
        )
        .nullable(),
        POSTS => FieldSpec::int(
            "author_posts",
            "Posts the author has made, if the source says.",
        )
        .nullable(),
        AGE_DAYS => FieldSpec::float(
            "author_account_age_days",
            "Age of the account in days when the mention was created (0 if the clocks disagree).",
        )
        .nullable(),
        NEW => FieldSpec::bool(
            "author_new_account",
            "The account was under 30 days old when it posted.",
        )
        .nullable(),
        FOLLOWER_RATIO => FieldSpec::float(
            "author_follower_ratio",
            "Followers per followed account: followers / max(following, 1).",
        )
        .nullable(),
        INFLUENCE => FieldSpec::float(
            "author_influence",
            "log10(1+followers) + 0.5·log10(1+followers/(following+1)) + 0.5 if verified.",
        )
        .nullable(),
        REACH_TIER => FieldSpec::str(
            "author_reach_tier",
            "Audience size: tiny (<1k followers), nano (<10k), micro (<100k), macro (<1M) or mega.",
        )
        .nullable(),
        POSTS_PER_DAY => FieldSpec::float(
            "author_posts_per_day",
            "Posts per day of account age (age counted as at least one day).",
        )
        .nullable(),
        HANDLE_LEN => FieldSpec::int(
            "author_handle_len",
            "Characters in the handle, without a leading @.",
        ),
        HANDLE_DIGITS => FieldSpec::int("author_handle_digits", "Decimal digits in the handle."),
        HANDLE_AUTO => FieldSpec::bool(
            "author_handle_auto",
            "The handle looks machine-made: it ends in 4+ digits or is 40%+ digits.",
        ),
        CREATED_YEAR => FieldSpec::int(
            "author_created_year",
            "Year (UTC) the account was created: the sign-up cohort.",
        )
        .nullable(),
    ]
}

/// Account age in days at the mention's creation, clamped at 0.
pub fn account_age_days(m: &Mention) -> Option<f64> {
    let born = m.author.created_at?;
    let ms = (m.created_at - born).num_milliseconds().max(0);
    Some(ms as f64 / 86_400_000.0)
}

/// See the `author_influence` doc.
pub fn influence(followers: u64, following: Option<u64>, verified: bool) -> f64 {
    let f = followers as f64;
    let ratio_term = following.map_or(0.0, |g| 0.5 * (1.0 + f / (g as f64 + 1.0)).log10());
    (1.0 + f).log10() + ratio_term + if verified { 0.5 } else { 0.0 }
}

/// See the `author_reach_tier` doc.
pub fn reach_tier(followers: u64) -> &'static str {
    match followers {
        0..1_000 => "tiny",
        1_000..10_000 => "nano",
        10_000..100_000 => "micro",
        100_000..1_000_000 => "macro",
        _ => "mega",
    }
}

/// The handle without a leading `@`.
fn handle(m: &Mention) -> &str {
    m.author
        .handle
        .strip_prefix('@')
        .unwrap_or(&m.author.handle)
}

/// See the `author_handle_auto` doc.
pub fn looks_auto_generated(handle: &str) -> bool {
    let chars = handle.chars().count();
    let digits = handle.chars().filter(char::is_ascii_digit).count();
    let trailing = handle
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .count();
    trailing >= 4 || (chars >= 5 && digits * 5 >= chars * 2)
}

impl Extractor for Account {
    fn name(&self) -> &'static str {
        "author"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let au = &a.mention.author;
        out.opt_int(f::FOLLOWERS, au.followers.map(int));
        out.opt_int(f::FOLLOWING, au.following.map(int));
        out.opt_int(f::POSTS, au.posts.map(int));
        let age = account_age_days(a.mention);
        out.opt_float(f::AGE_DAYS, age);
        match age {
            Some(d) => out.bool(f::NEW, d < NEW_ACCOUNT_DAYS),
            None => out.null(f::NEW),
        }
        out.opt_float(
            f::FOLLOWER_RATIO,
            au.followers
                .zip(au.following)
                .map(|(fo, fi)| fo as f64 / fi.max(1) as f64),
        );
        out.opt_float(
            f::INFLUENCE,
            au.followers
                .map(|fo| influence(fo, au.following, au.verified == Some(true))),
        );
        match au.followers {
            Some(fo) => out.str(f::REACH_TIER, reach_tier(fo)),
            None => out.null(f::REACH_TIER),
        }
        out.opt_float(
            f::POSTS_PER_DAY,
            au.posts
                .zip(age)
                .and_then(|(p, d)| ratio(p as f64, d.max(1.0))),
        );
        let h = handle(a.mention);
        out.count(f::HANDLE_LEN, h.chars().count());
        out.count(
            f::HANDLE_DIGITS,
            h.chars().filter(char::is_ascii_digit).count(),
        );
        out.bool(f::HANDLE_AUTO, looks_auto_generated(h));
        out.opt_int(
            f::CREATED_YEAR,
            au.created_at.map(|t| i64::from(chrono::Datelike::year(&t))),
        );
    }
}

/// Verification and display-name facts (pending: the corpus has neither).
#[derive(Debug)]
pub struct Profile;

fields! {
    const PROFILE_FIELDS, mod p = [
        VERIFIED => FieldSpec::bool(
            "author_verified",
            "The source marks the account as verified.",
        )
        .nullable(),
        NAME_LEN => FieldSpec::int(
            "author_display_name_len",
            "Characters in the display name, if set.",
        )
        .nullable(),
        NAME_EMOJI => FieldSpec::bool(
            "author_display_name_has_emoji",
            "The display name contains an emoji (if set).",
        )
        .nullable(),
        NAME_MATCHES_HANDLE => FieldSpec::bool(
            "author_display_name_matches_handle",
            "Display name and handle agree once case, spaces and punctuation are ignored.",
        )
        .nullable(),
        HANDLE_CUSTOM_DOMAIN => FieldSpec::bool(
            "author_handle_custom_domain",
            "The handle is a domain the author controls (e.g. a Bluesky handle not under bsky.social).",
        ),
        HANDLE_SEPARATORS => FieldSpec::int(
            "author_handle_separators",
            "Underscores, dots and hyphens in the handle.",
        ),
    ]
}

/// Whether `c` is an emoji or pictograph (the emoji blocks, not digits or `#`).
pub fn is_emoji(c: char) -> bool {
    matches!(u32::from(c), 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x1FC00..=0x1FFFD)
}

/// Platform domains under which handles are handed out, not owned.
const PLATFORM_DOMAINS: &[&str] = &[".bsky.social"];

/// Whether `handle` is a domain name of the author's own: dotted with an alphabetic top-level
/// label, not under a platform domain. A Mastodon `user@instance` names the instance, not the
/// author, so only the part before `@` counts.
pub fn is_custom_domain(handle: &str) -> bool {
    let local = handle
        .split('@')
        .next()
        .unwrap_or(handle)
        .to_ascii_lowercase();
    local.contains('.')
        && !PLATFORM_DOMAINS.iter().any(|d| local.ends_with(d))
        && local
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Lower-cased letters and digits of `s`, for loose comparison.
fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
}

impl Extractor for Profile {
    fn name(&self) -> &'static str {
        "author_profile"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        PROFILE_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let au = &a.mention.author;
        match au.verified {
            Some(v) => out.bool(p::VERIFIED, v),
            None => out.null(p::VERIFIED),
        }
        let h = handle(a.mention);
        match au.display_name.as_deref() {
            Some(name) => {
                out.count(p::NAME_LEN, name.chars().count());
                out.bool(p::NAME_EMOJI, name.chars().any(is_emoji));
                let local = h.split(['@', '.']).next().unwrap_or(h);
                out.bool(
                    p::NAME_MATCHES_HANDLE,
                    folded(name).next().is_some() && folded(name).eq(folded(local)),
                );
            }
            None => {
                out.null(p::NAME_LEN);
                out.null(p::NAME_EMOJI);
                out.null(p::NAME_MATCHES_HANDLE);
            }
        }
        out.bool(p::HANDLE_CUSTOM_DOMAIN, is_custom_domain(h));
        out.count(
            p::HANDLE_SEPARATORS,
            h.chars().filter(|c| matches!(c, '_' | '.' | '-')).count(),
        );
    }
}
