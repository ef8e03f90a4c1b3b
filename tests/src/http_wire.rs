//! The HTTP/1.1 wire shared by the loopback test servers ([`crate::llm_server`],
//! [`crate::image_servers`]): reading one request off a connection (a `content-length` or
//! chunked body, `Expect: 100-continue` answered) and the reason phrase of a status line.
//! Each server closes the connection after its response, so one request per connection.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most header bytes a request may send before the server gives up on it.
pub const MAX_HEAD: usize = 64 * 1024;

/// The largest body a request may send (bigger ones are dropped unanswered).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// One request as it came off the wire.
#[derive(Clone, Debug)]
pub struct WireRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query as sent (`/v1/chat/completions`).
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The raw body (chunked transfer encoding already undone).
    pub body: Vec<u8>,
}

impl WireRequest {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON (the message shows its start).
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(e) => panic!(
                "request body to {} is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            ),
        }
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The first header called `name` (any case) among lowercased `headers`.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; `None` at end of stream or on error.
async fn fill(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = socket.read(&mut chunk).await.ok()?;
    if n == 0 {
        return None;
    }
    buf.extend_from_slice(&chunk[..n]);
    Some(())
}

/// Reads one request; `None` when the client went away, sent more than [`MAX_HEAD`] of
/// headers or more than [`MAX_BODY`] of body, or sent something that is not HTTP.
pub async fn read_request(socket: &mut TcpStream) -> Option<WireRequest> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        fill(socket, &mut buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if header_in(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        socket
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    let mut rest = buf.split_off(head_end + 4);
    let chunked = header_in(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        read_chunked(socket, rest).await?
    } else {
        let length = header_in(&headers, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if length > MAX_BODY {
            return None;
        }
        while rest.len() < length {
            fill(socket, &mut rest).await?;
        }
        rest.truncate(length);
        rest
    };
    Some(WireRequest {
        method,
        path,
        headers,
        body,
    })
}

/// Undoes chunked transfer encoding; `buf` holds what was read after the head.
async fn read_chunked(socket: &mut TcpStream, mut buf: Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(at) = find(&buf, b"\r\n") {
                break at;
            }
            fill(socket, &mut buf).await?;
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if body.len() + size > MAX_BODY {
            return None;
        }
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers (none expected) end with a blank line; do not wait for them.
            return Some(body);
        }
        while buf.len() < size + 2 {
            fill(socket, &mut buf).await?;
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// The reason phrase for `status` in a status line.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}
