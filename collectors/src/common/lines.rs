//! Splitting a byte stream into lines with a bound on line length, for NDJSON and SSE.

/// Accumulates bytes and hands out complete lines (without `\n` or `\r\n`).
///
/// A line longer than `max` is not buffered whole: its bytes are dropped up to the next newline
/// and [`Line::TooLong`] reports it, so one giant frame cannot exhaust memory or stall the stream.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    max: usize,
    skipping: bool,
}

/// One item out of a [`LineBuffer`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Complete(Vec<u8>),
    /// A line that exceeded the limit; `prefix` is its start, for a log sample.
    TooLong {
        prefix: Vec<u8>,
    },
}

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            max,
            skipping: false,
        }
    }

    /// Adds bytes; complete lines are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Line>) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(nl);
            bytes = &rest[1..];
            if self.skipping {
                self.skipping = false;
                self.buf.clear();
                continue;
            }
            if self.buf.len() + head.len() > self.max {
                out.push(self.too_long(head));
                self.buf.clear();
                continue;
            }
            self.buf.extend_from_slice(head);
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            out.push(Line::Complete(line));
        }
        if self.skipping {
            return;
        }
        if self.buf.len() + bytes.len() > self.max {
            out.push(self.too_long(bytes));
            self.buf.clear();
            self.skipping = true;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The unterminated tail at end of input, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let tail = std::mem::take(&mut self.buf);
        let skipping = std::mem::replace(&mut self.skipping, false);
        (!skipping && !tail.is_empty()).then_some(tail)
    }

    fn too_long(&self, more: &[u8]) -> Line {
        let mut prefix: Vec<u8> = self.buf.iter().take(200).copied().collect();
        prefix.extend(more.iter().take(200 - prefix.len()));
        Line::TooLong { prefix }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunks_strips_crlf_and_bounds_length() {
        let mut lb = LineBuffer::new(8);
        let mut out = Vec::new();
        lb.push(b"ab", &mut out);
        lb.push(b"c\r\n\r\nde", &mut out);
        lb.push(b"f\n0123456789", &mut out);
        lb.push(b"0123\nok\n", &mut out);
        lb.push(b"tail", &mut out);
        assert_eq!(
            out,
            vec![
                Line::Complete(b"abc".to_vec()),
                Line::Complete(b"".to_vec()),
                Line::Complete(b"def".to_vec()),
                Line::TooLong {
                    prefix: b"0123456789".to_vec()
                },
                Line::Complete(b"ok".to_vec()),
            ]
        );
        assert_eq!(lb.finish(), Some(b"tail".to_vec()));
    }
}
