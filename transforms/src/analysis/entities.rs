//! Entities: hashtags, @mentions, cashtags and URLs by the rules of the open-source twitter-text
//! library, emoji sequences by Unicode's emoji data, and text emoticons.
//!
//! [`extract`] runs once per mention (through [`crate::Analysis::entities`]) and stores byte
//! ranges into the analysed text rather than owned strings, so finding entities allocates only
//! the few vectors below; groups that need the strings slice the text. Overlapping twitter-text
//! entities are resolved as twitter-text's `extractEntitiesWithIndices` does: the one that starts
//! first wins.

use std::ops::Range;

pub(crate) mod chars;
mod emoji;
mod emoticons;
mod tlds;
mod twitter;
mod unicode_tables;
mod urls;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;

pub use emoji::{Emoji, GROUPS as EMOJI_GROUPS, Qualification};
pub use emoticons::{Emoticon, Polarity};
pub use tlds::{TldKind, kind as tld_kind};
pub use urls::UrlMatch;

/// Entities found in a text, as byte ranges into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entities {
    /// Hashtag texts, without the `#`/`＃`.
    pub hashtags: Vec<Range<usize>>,
    /// Mentioned screen names, without the `@`/`＠` (list references `@user/list` excluded).
    pub mentions: Vec<Range<usize>>,
    /// Cashtag symbols, without the `$`.
    pub cashtags: Vec<Range<usize>>,
    /// URLs as written.
    pub urls: Vec<UrlMatch>,
    /// The screen name the text starts with (a reply), by twitter-text's `extractReplies`.
    pub reply_to: Option<Range<usize>>,
    /// Emoji sequences.
    pub emojis: Vec<Emoji>,
    /// Text emoticons outside URLs.
    pub emoticons: Vec<Emoticon>,
}

impl Entities {
    /// Slices `ranges` out of `text` (the text the entities were extracted from).
    pub fn strs<'t>(
        text: &'t str,
        ranges: &'t [Range<usize>],
    ) -> impl ExactSizeIterator<Item = &'t str> + 't {
        ranges.iter().map(move |r| &text[r.clone()])
    }

    /// The URLs as written.
    pub fn url_strs<'t>(&'t self, text: &'t str) -> impl ExactSizeIterator<Item = &'t str> + 't {
        self.urls.iter().map(move |u| &text[u.range.clone()])
    }
}

/// Which list an entity came from, for overlap resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Url,
    Mention,
    Hashtag,
    Cashtag,
}

/// Finds the entities in `text`.
pub fn extract(text: &str) -> Entities {
    let mut e = Entities::default();
    // Which scanners have anything to find, in one pass; U+FF03 and U+FF20 (fullwidth # and @)
    // start with the byte 0xEF.
    let seen = text
        .as_bytes()
        .iter()
        .fold(0u8, |m, &b| m | SIGNAL[usize::from(b)]);
    let (dot, at, hash) = (seen & DOT != 0, seen & AT != 0, seen & HASH != 0);
    let (dollar, wide) = (seen & DOLLAR != 0, seen & WIDE != 0);
    if dot {
        urls::urls(text, &mut e.urls);
    }
    let mut mentions = Vec::new();
    if at || (wide && text.contains('＠')) {
        twitter::mentions_or_lists(text, &mut mentions);
        e.reply_to = twitter::reply(text);
    }
    if hash || (wide && text.contains('＃')) {
        twitter::hashtags(text, &mut e.hashtags);
    }
    if dollar {
        twitter::cashtags(text, &mut e.cashtags);
    }
    resolve_overlaps(text, &mut e, &mut mentions);
    e.mentions.extend(
        mentions
            .iter()
            .filter(|m| m.list.is_empty())
            .map(|m| m.name.clone()),
    );
    emoji::emojis(text, &mut e.emojis);
    emoticons::emoticons(text, &mut e.emoticons);
    if !e.urls.is_empty() {
        let urls = &e.urls;
        e.emoticons.retain(|m| {
            !urls
                .iter()
                .any(|u| u.range.start < m.range.end && m.range.start < u.range.end)
        });
    }
    e
}

const DOT: u8 = 1;
const AT: u8 = 2;
const HASH: u8 = 4;
const DOLLAR: u8 = 8;
const WIDE: u8 = 16;

/// For each byte, which entity scanner it may start work for.
static SIGNAL: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'.' as usize] = DOT;
    t[b'@' as usize] = AT;
    t[b'#' as usize] = HASH;
    t[b'$' as usize] = DOLLAR;
    t[0xef] = WIDE;
    t
};

/// Drops every entity that starts inside an earlier one (URLs first on ties).
fn resolve_overlaps(text: &str, e: &mut Entities, mentions: &mut Vec<twitter::MentionMatch>) {
    let kinds = [
        !e.urls.is_empty(),
        !mentions.is_empty(),
        !e.hashtags.is_empty(),
        !e.cashtags.is_empty(),
    ];
    if kinds.iter().filter(|&&k| k).count() < 2 {
        return;
    }
    let sigil = |r: &Range<usize>| chars::char_before(text, r.start).map_or(0, char::len_utf8);
    let mut all: Vec<(Range<usize>, Kind, usize)> = Vec::new();
    all.extend(
        e.urls
            .iter()
            .enumerate()
            .map(|(i, u)| (u.range.clone(), Kind::Url, i)),
    );
    all.extend(
        mentions
            .iter()
            .enumerate()
            .map(|(i, m)| (m.whole.clone(), Kind::Mention, i)),
    );
    all.extend(
        e.hashtags
            .iter()
            .enumerate()
            .map(|(i, h)| (h.start - sigil(h)..h.end, Kind::Hashtag, i)),
    );
    all.extend(
        e.cashtags
            .iter()
            .enumerate()
            .map(|(i, c)| (c.start - 1..c.end, Kind::Cashtag, i)),
    );
    all.sort_by_key(|(r, _, _)| r.start);
    let mut keep = vec![true; all.len()];
    let mut prev_end = None;
    for (k, (r, _, _)) in all.iter().enumerate() {
        match prev_end {
            Some(end) if end > r.start => keep[k] = false,
            _ => prev_end = Some(r.end),
        }
    }
    let dropped = |kind: Kind| {
        let mut v: Vec<usize> = all
            .iter()
            .zip(&keep)
            .filter(|((_, k, _), keep)| *k == kind && !**keep)
            .map(|((_, _, i), _)| *i)
            .collect();
        v.sort_unstable();
        v
    };
    fn remove<T>(v: &mut Vec<T>, drop: &[usize]) {
        let mut i = 0;
        v.retain(|_| {
            let d = drop.binary_search(&i).is_ok();
            i += 1;
            !d
        });
    }
    remove(&mut e.urls, &dropped(Kind::Url));
    remove(mentions, &dropped(Kind::Mention));
    remove(&mut e.hashtags, &dropped(Kind::Hashtag));
    remove(&mut e.cashtags, &dropped(Kind::Cashtag));
}
