//! Server-sent events: the framing both HTTP backends stream their replies in.
//!
//! [`SseParser`] follows the WHATWG "event stream interpretation" rules: lines end in LF,
//! CR or CRLF; a blank line dispatches the event; `data:` lines accumulate (joined with
//! `\n`); `event:` names the event; lines starting with `:` are comments (keep-alives);
//! one space after the colon is dropped. Network chunks may split the stream anywhere,
//! including inside a CRLF pair or a multi-byte UTF-8 character, so the parser buffers
//! bytes, not text, until a line is complete.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name; empty when the server sent none (the spec's `message`).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen, if any.
    pub id: Option<String>,
}

/// Incremental parser: feed it bytes as they arrive, get whole events back.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF of the next chunk belongs to it.
    after_cr: bool,
    /// Whether the byte-order mark check has happened.
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut bytes = chunk;
        if !self.started && !bytes.is_empty() {
            // A UTF-8 byte-order mark may open the stream; it can itself be split, but no
            // provider sends one, so only a whole one at the very start is dropped.
            self.started = true;
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
                bytes = rest;
            }
        }
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    /// Whether the stream ended partway through an event (bytes or fields not yet
    /// dispatched by a blank line). Per the spec such a tail is discarded.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data || !self.event.is_empty()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment / keep-alive
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields are ignored
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        chunks.iter().flat_map(|c| parser.feed(c)).collect()
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn data_lines_join_with_newlines_and_events_are_named() {
        let events = parse_all(&[
            b"event: message_start\ndata: {\"a\":\ndata:1}\n\n: ping comment\n\ndata: x\n\n",
        ]);
        assert_eq!(
            events,
            vec![ev("message_start", "{\"a\":\n1}"), ev("", "x")]
        );
    }

    #[test]
    fn crlf_cr_and_lf_all_end_lines() {
        let events = parse_all(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
        assert_eq!(events, vec![ev("", "a"), ev("", "b"), ev("", "c")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_dropped() {
        let events = parse_all(&[b"data:no space\n\ndata:  two\n\ndata\n\n"]);
        assert_eq!(events, vec![ev("", "no space"), ev("", " two"), ev("", "")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_names_reset() {
        let events = parse_all(&[b"event: ping\n\ndata: after\n\n"]);
        assert_eq!(events, vec![ev("", "after")]);
    }

    #[test]
    fn ids_persist_and_the_partial_tail_is_reported() {
        let mut parser = SseParser::new();
        let events = parser.feed(b"id: 7\ndata: a\n\ndata: b\n\ndata: tail");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[1].id.as_deref(), Some("7"));
        assert!(parser.has_partial());
        let mut clean = SseParser::new();
        clean.feed(b"data: a\n\n");
        assert!(!clean.has_partial());
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_dropped() {
        assert_eq!(parse_all(&[b"\xEF\xBB\xBFdata: a\n\n"]), vec![ev("", "a")]);
    }

    /// Every way of cutting a stream into two or three chunks parses the same, including
    /// cuts inside CRLF pairs and inside multi-byte characters.
    #[test]
    fn chunks_split_anywhere_parse_the_same() {
        let stream =
            "event: content_block_delta\r\ndata: {\"text\":\"h\u{e9}llo \u{1F600}\"}\r\n\r\n\
                      : keep-alive\r\n\r\ndata: line1\rdata: line2\r\r\
                      data: [DONE]\n\n"
                .as_bytes();
        let whole = parse_all(&[stream]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "{\"text\":\"h\u{e9}llo \u{1F600}\"}");
        assert_eq!(whole[1].data, "line1\nline2");
        for i in 0..=stream.len() {
            assert_eq!(
                parse_all(&[&stream[..i], &stream[i..]]),
                whole,
                "cut at {i}"
            );
            for j in i..=stream.len() {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(parse_all(&parts), whole, "cuts at {i}, {j}");
            }
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytewise), whole);
    }
}
