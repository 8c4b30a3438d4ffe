//! One module per `backchannel` command. Each builds what it needs through [`crate::services`]
//! and reads top to bottom; `main.rs` only parses the command line and dispatches here.

pub mod collect;
pub mod doctor;
pub mod enrich;
pub mod fields;
pub mod reprocess;
pub mod run;
pub mod schema;
pub mod serve;
pub mod signals;
pub mod sources;
pub mod worker;

/// `backchannel signals put|delete|list` and `backchannel tenants …`: runs the operator action
/// (on the store, or through the running pipeline that holds it; see [`crate::admin`]) and
/// prints its report: the result on stdout (a new key alone on its line), notes on stderr.
pub async fn manage(
    config: &crate::config::Config,
    action: crate::admin::Action,
) -> crate::Result<()> {
    let reply = crate::admin::manage(config, action).await?;
    if !reply.out.is_empty() {
        println!("{}", reply.out);
    }
    if !reply.note.is_empty() {
        eprintln!("{}", reply.note);
    }
    Ok(())
}

/// Calls `f` with each line of `input` (without its `\n` or `\r\n`) and the line's number from
/// 0, holding at most `max` bytes of a line in memory: a longer one is read to its end without
/// being kept and is given as `Err(its length)`, so one giant line cannot take the process's
/// memory, and the lines after it are read as usual. Lines are bytes: whether one is UTF-8 (or
/// JSON) is for the caller to judge, line by line, so one bad line never ends the input.
pub(crate) fn each_line(
    mut input: impl std::io::BufRead,
    max: usize,
    mut f: impl FnMut(usize, std::result::Result<&[u8], usize>) -> crate::Result<()>,
) -> crate::Result<()> {
    let mut line = Vec::new();
    // The current line's length so far, kept or not, and whether its last byte is `\r`.
    let (mut len, mut cr) = (0usize, false);
    let mut number = 0;
    let mut end_line = |line: &mut Vec<u8>, len: usize, cr: bool, number: &mut usize| {
        let content = len - usize::from(cr);
        let result = if content > max {
            Err(content)
        } else {
            line.truncate(content);
            Ok(&line[..])
        };
        let done = f(*number, result);
        line.clear();
        *number += 1;
        done
    };
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        if let Some(&last) = part.last() {
            cr = last == b'\r';
        }
        // One byte over `max` is kept, for a `\r` that the newline may strip.
        if len.saturating_add(part.len()) <= max.saturating_add(1) {
            line.extend_from_slice(part);
        }
        len = len.saturating_add(part.len());
        let used = newline.map_or(chunk.len(), |i| i + 1);
        input.consume(used);
        if newline.is_some() {
            end_line(&mut line, len, cr, &mut number)?;
            (len, cr) = (0, false);
        }
    }
    if len > 0 {
        end_line(&mut line, len, cr, &mut number)?;
    }
    Ok(())
}

/// A line from [`each_line`] decoded as a mention: an over-long line is `TooLarge`, like an
/// over-large payload anywhere else.
pub(crate) fn decode_line(
    line: std::result::Result<&[u8], usize>,
    limits: model::DecodeLimits,
) -> std::result::Result<model::Mention, model::DecodeError> {
    match line {
        Ok(line) => model::Mention::decode(line, limits),
        Err(len) => Err(model::DecodeError::TooLarge {
            len,
            limit: limits.max_bytes,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    #[test]
    fn each_line_bounds_a_line_and_reads_on_past_it() {
        let mut input = Vec::new();
        input.extend_from_slice(b"ab\r\n\n");
        input.extend_from_slice(&[b'x'; 50]);
        input.extend_from_slice(b"\nbad \xff\n");
        input.extend_from_slice(&[b'y'; 20]);
        input.extend_from_slice(b"\r\n0123456789\r\ntail");
        // Chunks of 4 bytes, so lines and their `\r\n` straddle the reader's chunks.
        let mut got = Vec::new();
        each_line(BufReader::with_capacity(4, &input[..]), 10, |i, line| {
            got.push((i, line.map(<[u8]>::to_vec)));
            Ok(())
        })
        .expect("reads");
        let ok = |s: &[u8]| Ok(s.to_vec());
        assert_eq!(
            got,
            vec![
                (0, ok(b"ab")),
                (1, ok(b"")),
                (2, Err(50)),
                (3, ok(b"bad \xff")),
                (4, Err(20)),
                (5, ok(b"0123456789")),
                (6, ok(b"tail")),
            ]
        );
    }
}
