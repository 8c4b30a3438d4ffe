//! The synthetic source: realistic multilingual mentions at any rate, deterministic by seed.
//!
//! It is the load generator for benchmarks and the data of end-to-end tests, so it aims at the
//! shape of real traffic rather than random noise: posts in a dozen languages about a handful of
//! brands, with hashtags, @mentions, links (some shortened), emoji (ZWJ sequences, skin tones,
//! flags), replies and reposts, authors whose follower counts follow a heavy-tailed distribution.
//! The same `(seed, index)` always yields the same mention, on any platform.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use model::{Author, Engagement, Kind, Media, MediaKind, Mention, References, Source};

/// How the generator behaves.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// Creation time of the first mention; later ones follow at `spacing` intervals.
    pub start: DateTime<Utc>,
    /// Simulated time between consecutive mentions' `created_at`.
    pub spacing: Duration,
    /// Number of distinct authors.
    pub authors: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 1,
            start: DateTime::<Utc>::from_timestamp(1_764_115_200, 0).unwrap_or_default(),
            spacing: Duration::milliseconds(7),
            authors: 50_000,
        }
    }
}

/// A deterministic, endless iterator of mentions.
#[derive(Debug, Clone)]
pub struct Synthetic {
    cfg: SyntheticConfig,
    next: u64,
}

impl Synthetic {
    pub fn new(cfg: SyntheticConfig) -> Self {
        Synthetic { cfg, next: 0 }
    }

    /// The mention at position `index` (independent of iteration state).
    pub fn mention(&self, index: u64) -> Mention {
        let mut r = Rng::new(self.cfg.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let lang = &LANGS[r.below(LANGS.len() as u64) as usize];
        let brand = BRANDS[r.below(BRANDS.len() as u64) as usize];
        let mut text = String::with_capacity(200);
        // Opening: sometimes address another user first, as replies do.
        let kind = match r.below(100) {
            0..=59 => Kind::Post,
            60..=79 => Kind::Reply,
            80..=89 => Kind::Quote,
            90..=94 => Kind::Repost,
            _ => Kind::Comment,
        };
        if kind == Kind::Reply {
            text.push('@');
            push_handle(&mut text, r.below(self.cfg.authors));
            text.push(' ');
        }
        let template = lang.templates[r.below(lang.templates.len() as u64) as usize];
        push_filled(&mut text, template, brand);
        let extra = r.below(100);
        if extra < 35 {
            text.push(' ');
            text.push_str(lang.extras[r.below(lang.extras.len() as u64) as usize]);
        }
        if r.below(100) < 45 {
            for _ in 0..=r.below(3) {
                text.push_str(" #");
                push_filled(
                    &mut text,
                    HASHTAGS[r.below(HASHTAGS.len() as u64) as usize],
                    brand,
                );
            }
        }
        if r.below(100) < 20 {
            text.push_str(" @");
            push_handle(&mut text, r.below(self.cfg.authors));
        }
        if r.below(100) < 25 {
            text.push(' ');
            let url = URLS[r.below(URLS.len() as u64) as usize];
            // The brand as a host name: lower case, without spaces.
            let mut parts = url.split("{b}");
            text.push_str(parts.next().unwrap_or_default());
            for part in parts {
                text.extend(
                    brand
                        .chars()
                        .filter(|&c| c != ' ')
                        .flat_map(char::to_lowercase),
                );
                text.push_str(part);
            }
            let _ = write!(text, "{}", r.below(100_000));
        }
        if r.below(100) < 5 {
            text.push_str(" $");
            text.push_str(TICKERS[r.below(TICKERS.len() as u64) as usize]);
        }
        if r.below(100) < 40 {
            text.push(' ');
            for _ in 0..=r.below(2) {
                text.push_str(EMOJI[r.below(EMOJI.len() as u64) as usize]);
            }
        }
        if r.below(100) < 4 {
            // Shouting happens.
            text = text.to_uppercase();
        }

        let author_n = zipf_like(&mut r, self.cfg.authors);
        let followers = heavy_tail(&mut r);
        let created_at =
            self.cfg.start + self.cfg.spacing * i32::try_from(index % (1 << 30)).unwrap_or(0);
        let collected_at = created_at + Duration::milliseconds(50 + r.below(3_000) as i64);
        let source = SOURCES[r.below(SOURCES.len() as u64) as usize];
        let id = format!("synthetic:{}-{}", self.cfg.seed, index);
        let author_handle = handle(author_n);
        let refs = match kind {
            Kind::Reply | Kind::Comment => References {
                reply_to: Some(format!(
                    "synthetic:{}-{}",
                    self.cfg.seed,
                    index.saturating_sub(1 + r.below(500))
                )),
                ..Default::default()
            },
            Kind::Quote => References {
                quote_of: Some(format!(
                    "synthetic:{}-{}",
                    self.cfg.seed,
                    index.saturating_sub(1 + r.below(5_000))
                )),
                ..Default::default()
            },
            Kind::Repost => References {
                repost_of: Some(format!(
                    "synthetic:{}-{}",
                    self.cfg.seed,
                    index.saturating_sub(1 + r.below(5_000))
                )),
                ..Default::default()
            },
            Kind::Post => References::default(),
        };
        let likes = (followers as f64 * r.unit() * 0.02) as u64;
        Mention {
            url: Some(format!(
                "https://{}.example/{author_handle}/{index}",
                source.as_str(),
            )),
            source: Source::Synthetic,
            kind,
            created_at,
            collected_at,
            edited_at: None,
            text,
            lang_hint: if r.below(100) < 30 {
                Some(lang.code.to_owned())
            } else {
                None
            },
            author: Author {
                id: format!("synthetic:{author_n}"),
                handle: author_handle,
                display_name: Some(display_name(author_n)),
                followers: Some(followers),
                following: Some(r.below(2_000) + 5),
                posts: Some(r.below(40_000) + 1),
                verified: Some(followers > 100_000 && r.below(2) == 0),
                created_at: Some(created_at - Duration::days(1 + r.below(4_500) as i64)),
            },
            engagement: Engagement {
                likes: Some(likes),
                reposts: Some(likes / (2 + r.below(8))),
                replies: Some(likes / (3 + r.below(12))),
                quotes: Some(likes / (10 + r.below(30))),
                views: if r.below(2) == 0 {
                    Some(likes * (20 + r.below(200)))
                } else {
                    None
                },
            },
            refs,
            media: if r.below(100) < 15 {
                vec![Media {
                    kind: if r.below(4) == 0 {
                        MediaKind::Video
                    } else {
                        MediaKind::Image
                    },
                    url: format!("https://media.example/{index}.jpg"),
                    alt_text: None,
                }]
            } else {
                Vec::new()
            },
            geo: None,
            raw: None,
            extra: Default::default(),
            id,
        }
    }
}

impl Iterator for Synthetic {
    type Item = Mention;
    fn next(&mut self) -> Option<Mention> {
        let m = self.mention(self.next);
        self.next += 1;
        Some(m)
    }
}

fn handle(n: u64) -> String {
    let mut s = String::with_capacity(12);
    push_handle(&mut s, n);
    s
}

/// Appends the handle of author `n` (see [`handle`]).
fn push_handle(s: &mut String, n: u64) {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ra", "ven", "tor", "sa", "ne", "li", "do", "ju", "ber", "an", "zo",
        "pi", "el",
    ];
    let mut x = n.wrapping_mul(2_654_435_761) ^ 0x5bd1;
    for _ in 0..3 {
        s.push_str(SYL[(x % 16) as usize]);
        x /= 16;
    }
    if n.is_multiple_of(3) {
        let _ = write!(s, "{}", n % 1000);
    } else {
        s.push('_');
        s.push_str(SYL[(n % 16) as usize]);
    }
}

/// Appends `template` with each `{b}` in it replaced by `brand`, as `str::replace` would, without
/// the string it makes: this runs several times for every mention generated.
fn push_filled(s: &mut String, template: &str, brand: &str) {
    let mut parts = template.split("{b}");
    s.push_str(parts.next().unwrap_or_default());
    for part in parts {
        s.push_str(brand);
        s.push_str(part);
    }
}

fn display_name(n: u64) -> String {
    const FIRST: [&str; 8] = [
        "Ana", "Kenji", "Lena", "Omar", "Priya", "Tomás", "Zoë", "Ivan",
    ];
    const LAST: [&str; 8] = [
        "Silva", "Tanaka", "Müller", "Haddad", "Sharma", "García", "Dubois", "Petrov",
    ];
    format!(
        "{} {}",
        FIRST[(n % 8) as usize],
        LAST[((n / 8) % 8) as usize]
    )
}

/// Small ids are much more frequent, like real posting activity.
fn zipf_like(r: &mut Rng, n: u64) -> u64 {
    let u = r.unit();
    ((n as f64).powf(u) as u64).saturating_sub(1) % n.max(1)
}

/// Follower counts: most accounts small, a few huge (a Pareto tail).
fn heavy_tail(r: &mut Rng) -> u64 {
    let u = r.unit().max(1e-9);
    ((50.0 / u.powf(1.2)) as u64).min(50_000_000)
}

/// SplitMix64: tiny, fast and identical on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut r = Rng(seed);
        r.next_u64();
        r
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SOURCES: [Source; 6] = [
    Source::Mastodon,
    Source::Bluesky,
    Source::Reddit,
    Source::Hackernews,
    Source::Rss,
    Source::X,
];
const BRANDS: [&str; 8] = [
    "Acme",
    "Nimbus",
    "Orbita",
    "Kettle",
    "Lumen",
    "Vela",
    "Quanta Air",
    "Fjord",
];
const HASHTAGS: [&str; 12] = [
    "{b}",
    "{b}Fail",
    "{b}Love",
    "customerservice",
    "unboxing",
    "tech",
    "deals",
    "Müsli",
    "東京",
    "café",
    "BlackFriday",
    "AI",
];
const URLS: [&str; 5] = [
    "https://{b}.com/p/",
    "https://bit.ly/3x",
    "http://t.co/a",
    "www.{b}.de/angebot/",
    "https://news.example.org/story/",
];
const TICKERS: [&str; 4] = ["ACME", "NMBS", "VELA", "QAIR"];
const EMOJI: [&str; 14] = [
    "😀",
    "😡",
    "❤️",
    "👍🏽",
    "🔥",
    "😂",
    "🙄",
    "👩‍💻",
    "🇩🇪",
    "🇯🇵",
    "1️⃣",
    "🤷‍♀️",
    "😢",
    "🎉",
];

struct Lang {
    code: &'static str,
    templates: &'static [&'static str],
    extras: &'static [&'static str],
}

// Sentences written for this generator; `{b}` is replaced with a brand name.
const LANGS: [Lang; 12] = [
    Lang {
        code: "en",
        templates: &[
            "Just got my new {b} phone and honestly it's the best purchase I've made this year!",
            "{b} support kept me on hold for two hours. Never again, this is terrible service.",
            "Is anyone else having trouble logging into {b} today? The app keeps crashing.",
            "Not sure how I feel about the {b} update. Some good ideas, but the battery life is worse.",
            "Thinking about switching to {b}. Where can I buy one before the weekend sale ends?",
            "The {b} keynote was kind of boring but the price is really good.",
            "I LOVE the way {b} redesigned the camera app, sooo smooth!!!",
            "Can't believe {b} charged me twice for the same order. Please fix this @support",
        ],
        extras: &[
            "Thoughts?",
            "lol",
            "What a day.",
            "Highly recommend.",
            "Absolutely not impressed...",
        ],
    },
    Lang {
        code: "es",
        templates: &[
            "Acabo de comprar el nuevo {b} y estoy encantado con la cámara.",
            "El servicio de atención al cliente de {b} es un desastre, nadie responde.",
            "¿Alguien sabe si {b} tiene ofertas este fin de semana?",
            "La actualización de {b} me borró todas las fotos, qué rabia.",
        ],
        extras: &["¡Increíble!", "Qué decepción.", "Lo recomiendo mucho."],
    },
    Lang {
        code: "de",
        templates: &[
            "Heute endlich das neue {b} bekommen und ich bin wirklich begeistert.",
            "Der Kundendienst von {b} ist eine Katastrophe, seit Tagen keine Antwort.",
            "Weiß jemand, ob es {b} morgen im Laden zu kaufen gibt?",
            "Das letzte Update von {b} hat mein Gerät deutlich langsamer gemacht.",
        ],
        extras: &["Unglaublich.", "Was für ein Ärger!", "Sehr empfehlenswert."],
    },
    Lang {
        code: "fr",
        templates: &[
            "Je viens de recevoir mon {b} et franchement la qualité est impressionnante.",
            "Le service client de {b} ne répond jamais, c'est vraiment inadmissible.",
            "Quelqu'un sait si {b} fait des promotions pour le Black Friday ?",
            "La nouvelle version de l'application {b} est beaucoup plus lente qu'avant.",
        ],
        extras: &["Bravo !", "Quelle déception.", "Je recommande."],
    },
    Lang {
        code: "pt",
        templates: &[
            "Comprei o novo {b} ontem e estou muito feliz com a bateria.",
            "O atendimento da {b} é péssimo, ninguém resolve o meu problema.",
            "Alguém sabe onde comprar o {b} mais barato no Brasil?",
        ],
        extras: &["Adorei!", "Que decepção.", "Recomendo demais."],
    },
    Lang {
        code: "it",
        templates: &[
            "Ho appena comprato il nuovo {b} e sono davvero soddisfatto.",
            "Il servizio clienti di {b} non risponde da una settimana, vergognoso.",
            "Qualcuno sa se {b} farà sconti questo weekend?",
        ],
        extras: &["Fantastico!", "Che delusione.", "Lo consiglio."],
    },
    Lang {
        code: "nl",
        templates: &[
            "Net mijn nieuwe {b} binnen en ik ben er echt blij mee.",
            "De klantenservice van {b} is echt waardeloos, al drie dagen geen reactie.",
        ],
        extras: &["Geweldig!", "Wat een teleurstelling."],
    },
    Lang {
        code: "ru",
        templates: &[
            "Купил новый {b} и очень доволен камерой и батареей.",
            "Поддержка {b} не отвечает уже неделю, это ужасно.",
            "Кто-нибудь знает, где купить {b} дешевле?",
        ],
        extras: &["Отлично!", "Какое разочарование."],
    },
    Lang {
        code: "ja",
        templates: &[
            "{b}の新しいスマホを買いました。カメラがとても綺麗で満足しています。",
            "{b}のサポートに電話したけど、二時間も待たされた。最悪です。",
            "{b}のセールはいつ始まるか知っている人いますか？",
        ],
        extras: &["最高！", "残念です。"],
    },
    Lang {
        code: "ko",
        templates: &[
            "{b} 새 휴대폰을 샀는데 카메라가 정말 좋아요.",
            "{b} 고객센터는 전화를 안 받아요. 너무 실망했습니다.",
        ],
        extras: &["최고예요!", "별로예요."],
    },
    Lang {
        code: "zh",
        templates: &[
            "刚买了{b}的新手机，拍照效果非常好，很满意。",
            "{b}的客服一直不回复，真是太让人失望了。",
        ],
        extras: &["太棒了！", "很失望。"],
    },
    Lang {
        code: "ar",
        templates: &[
            "اشتريت هاتف {b} الجديد وأنا سعيد جدا بالكاميرا.",
            "خدمة عملاء {b} سيئة جدا ولا أحد يرد على الرسائل.",
        ],
        extras: &["رائع!", "مخيب للآمال."],
    },
];

/// Paces a generator to a rate: every 10 ms it grants the next `rate / 100` positions, so a rate
/// is smooth without a timer per mention (rate 0: no pacing). Shared by `backchannel run` and
/// `backchannel collect`.
#[derive(Debug)]
pub struct Pacer {
    tick: tokio::time::Interval,
    per_tick: u64,
}

impl Pacer {
    pub fn new(rate: u64) -> Pacer {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Pacer {
            tick,
            per_tick: if rate == 0 {
                u64::MAX
            } else {
                rate.div_ceil(100)
            },
        }
    }

    /// Waits for the next tick; returns the end (exclusive, at most `limit`) of the positions
    /// from `next` that may be sent now.
    pub async fn grant(&mut self, next: u64, limit: u64) -> u64 {
        self.tick.tick().await;
        limit.min(next.saturating_add(self.per_tick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mentions_other_seed_other_mentions() {
        let a: Vec<Mention> = Synthetic::new(SyntheticConfig::default())
            .take(200)
            .collect();
        let b: Vec<Mention> = Synthetic::new(SyntheticConfig::default())
            .take(200)
            .collect();
        assert_eq!(a, b);
        let c: Vec<Mention> = Synthetic::new(SyntheticConfig {
            seed: 2,
            ..Default::default()
        })
        .take(200)
        .collect();
        assert_ne!(a[0].text, c[0].text);
        assert_eq!(
            a[17],
            Synthetic::new(SyntheticConfig::default()).mention(17)
        );
    }

    #[test]
    fn mentions_are_valid_varied_and_realistic() {
        let all: Vec<Mention> = Synthetic::new(SyntheticConfig::default())
            .take(5_000)
            .collect();
        let ids: std::collections::HashSet<&str> = all.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "ids are unique");
        for m in &all {
            m.validate().expect("valid mention");
            let json = serde_json::to_vec(m).expect("serialises");
            let back = Mention::decode(&json, model::DecodeLimits::default()).expect("decodes");
            assert_eq!(&back, m);
        }
        let share = |p: &dyn Fn(&Mention) -> bool| {
            all.iter().filter(|m| p(m)).count() as f64 / all.len() as f64
        };
        assert!(
            (0.3..0.6).contains(&share(&|m| m.text.contains('#'))),
            "hashtags in about 45%"
        );
        assert!((0.15..0.35).contains(&share(
            &|m| m.text.contains("http") || m.text.contains("www.")
        )));
        assert!(
            share(&|m| m
                .text
                .chars()
                .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)))
                > 0.03,
            "some Japanese"
        );
        assert!(share(&|m| m.kind == Kind::Reply) > 0.1);
        let big = all
            .iter()
            .filter(|m| m.author.followers > Some(100_000))
            .count();
        assert!(
            big > 0 && big < all.len() / 20,
            "a heavy tail of large accounts: {big}"
        );
    }
}
