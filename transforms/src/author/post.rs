//! The `post` group (source, kind, reply) and the pending `post_attachments` group (re-shares,
//! thread position, media, geo).

use model::{Kind, MediaKind};

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Where the mention came from and what kind of object it is.
#[derive(Debug)]
pub struct Post;

fields! {
    const FIELDS, mod f = [
        SOURCE => FieldSpec::str(
            "post_source",
            "Platform the mention came from (`reddit`, `bluesky`, `x`, …).",
        ),
        KIND => FieldSpec::str(
            "post_kind",
            "Kind of object: `post`, `reply`, `repost`, `quote` or `comment`.",
        ),
        IS_REPLY => FieldSpec::bool(
            "post_is_reply",
            "The mention answers another: a reply or comment, or it names the mention it replies to.",
        ),
    ]
}

impl Extractor for Post {
    fn name(&self) -> &'static str {
        "post"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let m = a.mention;
        out.str(f::SOURCE, m.source.as_str());
        out.str(f::KIND, m.kind.as_str());
        out.bool(
            f::IS_REPLY,
            matches!(m.kind, Kind::Reply | Kind::Comment) || m.refs.reply_to.is_some(),
        );
    }
}

/// Re-shares, thread position, attachments and place (pending: the corpus has none).
#[derive(Debug)]
pub struct Attachments;

fields! {
    const ATTACHMENT_FIELDS, mod p = [
        IS_REPOST => FieldSpec::bool(
            "post_is_repost",
            "A re-share without added text (by kind or by a repost reference).",
        ),
        IS_QUOTE => FieldSpec::bool(
            "post_is_quote",
            "A re-share with added text (by kind or by a quote reference).",
        ),
        IN_THREAD => FieldSpec::bool(
            "post_in_thread",
            "Part of a conversation below its root: it names a conversation other than itself.",
        ),
        HAS_URL => FieldSpec::bool(
            "post_has_url",
            "The source gives a web address for the mention.",
        ),
        MEDIA_COUNT => FieldSpec::int(
            "media_count",
            "Attachments: images, videos, GIFs, audio and link cards.",
        ),
        MEDIA_KINDS => FieldSpec::strs(
            "media_kinds",
            "Distinct attachment kinds, in order of first appearance.",
        ),
        MEDIA_IMAGES => FieldSpec::int("media_images", "Image attachments."),
        MEDIA_VIDEOS => FieldSpec::int("media_videos", "Video and GIF attachments."),
        MEDIA_ALT_SHARE => FieldSpec::float(
            "media_alt_text_share",
            "Share of attachments with alternative text; null without attachments.",
        )
        .nullable(),
        HAS_GEO => FieldSpec::bool(
            "geo_present",
            "The source shares a location for the mention.",
        ),
        GEO_COUNTRY => FieldSpec::str(
            "geo_country",
            "ISO 3166-1 alpha-2 country of the location, upper-cased, if given.",
        )
        .nullable(),
    ]
}

fn media_kind_str(k: MediaKind) -> &'static str {
    match k {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Gif => "gif",
        MediaKind::Audio => "audio",
        MediaKind::Link => "link",
    }
}

impl Extractor for Attachments {
    fn name(&self) -> &'static str {
        "post_attachments"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        ATTACHMENT_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let m = a.mention;
        out.bool(
            p::IS_REPOST,
            m.kind == Kind::Repost || m.refs.repost_of.is_some(),
        );
        out.bool(
            p::IS_QUOTE,
            m.kind == Kind::Quote || m.refs.quote_of.is_some(),
        );
        out.bool(
            p::IN_THREAD,
            m.refs.conversation.as_ref().is_some_and(|c| *c != m.id),
        );
        out.bool(p::HAS_URL, m.url.is_some());
        out.count(p::MEDIA_COUNT, m.media.len());
        let kinds = out.strs(p::MEDIA_KINDS);
        for md in &m.media {
            let k = media_kind_str(md.kind);
            if !kinds.iter().any(|x| x == k) {
                kinds.push(k.to_owned());
            }
        }
        let count = |f: fn(MediaKind) -> bool| m.media.iter().filter(|md| f(md.kind)).count();
        out.count(p::MEDIA_IMAGES, count(|k| k == MediaKind::Image));
        out.count(
            p::MEDIA_VIDEOS,
            count(|k| matches!(k, MediaKind::Video | MediaKind::Gif)),
        );
        let with_alt = m
            .media
            .iter()
            .filter(|md| md.alt_text.as_deref().is_some_and(|t| !t.trim().is_empty()))
            .count();
        out.opt_float(
            p::MEDIA_ALT_SHARE,
            (!m.media.is_empty()).then(|| with_alt as f64 / m.media.len() as f64),
        );
        out.bool(p::HAS_GEO, m.geo.is_some());
        let country = m
            .geo
            .as_ref()
            .and_then(|g| g.country.as_deref())
            .map(str::trim)
            .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()));
        match country {
            Some(c) => {
                let mut buf = [0u8; 2];
                buf.copy_from_slice(c.as_bytes());
                buf.make_ascii_uppercase();
                out.str(p::GEO_COUNTRY, std::str::from_utf8(&buf).unwrap_or("ZZ"));
            }
            None => out.null(p::GEO_COUNTRY),
        }
    }
}
