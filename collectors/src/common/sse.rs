//! Server-sent events (the `text/event-stream` format) from lines.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent, as the spec says.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The last event id the stream set (`id:`), as the spec keeps it: it carries over to later
    /// events until another `id:` changes it; an empty `id:` clears it. A client reconnects with
    /// it as `Last-Event-ID` so a server that supports it resumes after this event.
    pub id: Option<String>,
}

/// What a line completed: an event, or the news that one was dropped for its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    Event(SseEvent),
    /// An event whose `data:` passed the cap (or one of whose lines did): its fields are
    /// dropped and the parser skips to the blank line that ends it. `prefix` is a sample.
    TooLarge {
        prefix: Vec<u8>,
    },
}

/// Builds events from lines (without their line endings): fields accumulate until a blank line
/// dispatches them. Comments (`:thump`, Mastodon's heartbeat) are ignored.
///
/// An event larger than `max` bytes is not buffered whole: it is reported once as
/// [`Sse::TooLarge`] and the rest of it is skipped up to the next blank line, so the stream
/// resyncs at the next event instead of reconnecting. Line framing is intact when an event is
/// merely too big, and a reconnect would lose what the server sends meanwhile on streams that
/// cannot resume.
#[derive(Debug)]
pub struct SseParser {
    event: Option<String>,
    data: Option<String>,
    max: usize,
    skipping: bool,
    last_id: Option<String>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(usize::MAX)
    }
}

impl SseParser {
    /// A parser for events of at most `max` bytes of data.
    pub fn new(max: usize) -> Self {
        SseParser {
            event: None,
            data: None,
            max,
            skipping: false,
            last_id: None,
        }
    }

    /// Feeds one line; returns the event a blank line completes, or the news that the event
    /// being read passed the cap.
    pub fn line(&mut self, line: &str) -> Option<Sse> {
        if line.is_empty() {
            let data = self.data.take();
            let event = self.event.take();
            if std::mem::replace(&mut self.skipping, false) {
                return None;
            }
            return data.map(|data| {
                Sse::Event(SseEvent {
                    event: event.unwrap_or_else(|| "message".into()),
                    data,
                    id: self.last_id.clone(),
                })
            });
        }
        if self.skipping || line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let have = self.data.as_ref().map_or(0, |d| d.len() + 1);
                if have + value.len() > self.max {
                    let mut prefix = self.data.take().unwrap_or_default().into_bytes();
                    prefix.truncate(200);
                    prefix.extend(value.bytes().take(200 - prefix.len()));
                    return Some(self.too_large(prefix));
                }
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
            // The spec ignores an id with a NUL in it.
            "id" if !value.contains('\0') => {
                self.last_id = (!value.is_empty()).then(|| value.to_owned());
            }
            _ => {} // `retry` and unknown fields
        }
        None
    }

    /// Call when a line of the current event was too long for the line buffer: the event is
    /// dropped like one over the cap. Returns `None` if it was already being skipped.
    pub fn line_too_long(&mut self, prefix: Vec<u8>) -> Option<Sse> {
        (!self.skipping).then(|| self.too_large(prefix))
    }

    fn too_large(&mut self, prefix: Vec<u8>) -> Sse {
        self.event = None;
        self.data = None;
        self.skipping = true;
        Sse::TooLarge { prefix }
    }

    /// Drops a half-received event (after a disconnect: it must not be glued to the next one).
    /// The last event id survives, as the spec says.
    pub fn reset(&mut self) {
        let last_id = self.last_id.take();
        *self = SseParser::new(self.max);
        self.last_id = last_id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_carry_over_until_changed_or_cleared() {
        let mut p = SseParser::default();
        let mut ids = Vec::new();
        for l in [
            "data: a", "", "id: 7", "data: b", "", "data: c", "", "id", "data: d", "", "id: 8",
            "data: e", "",
        ] {
            if let Some(Sse::Event(e)) = p.line(l) {
                ids.push(e.id);
            }
        }
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(ids, vec![None, s("7"), s("7"), None, s("8")]);
    }

    #[test]
    fn dispatches_on_blank_lines_and_ignores_comments() {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for l in [
            ":thump",
            "",
            "event: delete",
            "data: 123",
            "",
            "data:a",
            "data: b",
            "",
        ] {
            out.extend(p.line(l).map(|e| match e {
                Sse::Event(e) => e,
                Sse::TooLarge { .. } => panic!("no cap here"),
            }));
        }
        assert_eq!(
            out,
            vec![
                SseEvent {
                    event: "delete".into(),
                    data: "123".into(),
                    id: None,
                },
                SseEvent {
                    event: "message".into(),
                    data: "a\nb".into(),
                    id: None,
                },
            ]
        );
    }

    #[test]
    fn an_event_over_the_cap_is_dropped_once_and_the_next_one_arrives() {
        let mut p = SseParser::new(8);
        let mut out = Vec::new();
        for l in [
            "event: update",
            "data: 12345",
            "data: 6789",
            "data: more of the same event",
            "",
            "event: delete",
            "data: 42",
            "",
        ] {
            out.extend(p.line(l));
        }
        assert_eq!(
            out,
            vec![
                Sse::TooLarge {
                    prefix: b"123456789".to_vec()
                },
                Sse::Event(SseEvent {
                    event: "delete".into(),
                    data: "42".into(),
                    id: None,
                }),
            ]
        );
        assert!(p.line_too_long(b"x".to_vec()).is_some());
        assert!(p.line_too_long(b"x".to_vec()).is_none(), "reported once");
        assert_eq!(p.line("data: lost"), None);
        assert_eq!(p.line(""), None);
        assert_eq!(p.line("data: ok"), None);
        assert!(matches!(p.line(""), Some(Sse::Event(_))));
    }
}
