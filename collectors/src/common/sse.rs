//! Server-sent events (the `text/event-stream` format) from lines.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent, as the spec says.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Builds events from lines (without their line endings): fields accumulate until a blank line
/// dispatches them. Comments (`:thump`, Mastodon's heartbeat) are ignored.
#[derive(Debug, Default)]
pub struct SseParser {
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds one line; returns the event a blank line completes.
    pub fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take();
            let event = self.event.take();
            return data.map(|data| SseEvent {
                event: event.unwrap_or_else(|| "message".into()),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // `id`, `retry` and unknown fields
        }
        None
    }

    /// Drops a half-received event (after a disconnect: it must not be glued to the next one).
    pub fn reset(&mut self) {
        *self = SseParser::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            out.extend(p.line(l));
        }
        assert_eq!(
            out,
            vec![
                SseEvent {
                    event: "delete".into(),
                    data: "123".into()
                },
                SseEvent {
                    event: "message".into(),
                    data: "a\nb".into()
                },
            ]
        );
    }
}
