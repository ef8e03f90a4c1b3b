//! HTTP through the host ([`Host::http`](crate::Host::http)): the requests a plugin asks
//! the host to make, and what came back.
//!
//! A native plugin runs in maia's process, so nothing stops it from opening sockets of
//! its own; but a plugin that does its networking through the host gets the host's
//! guarantees for free: every destination is checked against the hosts the plugin's
//! `plugin.toml` declares (`[permissions] net`) and the user granted (`--allow-net`), a
//! whole batch is refused before anything is sent when one destination is not allowed,
//! requests run concurrently up to a limit, each with its own deadline, and headers
//! (API keys) never appear in the host's logs or errors.
//!
//! Two kinds of failure are kept apart. A batch the host will not make at all (a
//! destination not allowed, a host that lends no network) is an `Err(ToolError)` from
//! [`Host::http`](crate::Host::http). A request that was allowed but failed in transport
//! (refused connection, deadline passed, reset) is an [`HttpOutcome::Failed`] in its slot
//! of the returned list, so a plugin can retry just that one. An HTTP error status (429,
//! 500) is a [`HttpOutcome::Response`]: the plugin decides what it means.
//!
//! Over the native ABI the request and reply lists travel as [`wire`](crate::wire)
//! frames: a JSON header without the bodies, then each body as a raw blob, so a
//! multi-megabyte PNG is copied, never base64-inflated.

use serde::{Deserialize, Serialize};

/// One request the plugin asks the host to make.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers, in order. Values may hold keys: the host never logs them.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body (empty for none).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Deadline for the whole request (connect, send, receive), in milliseconds; 0 lets
    /// the host choose (120 s).
    #[serde(default)]
    pub timeout_ms: u64,
}

impl HttpRequest {
    /// A `POST` of a JSON value.
    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        HttpRequest {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
            timeout_ms: 0,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the deadline.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }
}

// Headers may carry keys: Debug shows names only, and the body's length.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A response, whatever its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers (names lower-case).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Response body.
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an allowed request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpFailureKind {
    /// The deadline passed.
    Timeout,
    /// No connection could be made (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// Anything else (reset mid-response, body over the host's size limit, ...).
    Other,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HttpOutcome {
    /// The server answered (any status).
    Response(HttpResponse),
    /// No answer; `message` says why (never holds header values).
    Failed {
        /// The kind of failure.
        kind: HttpFailureKind,
        /// What happened, for the agent and the log.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
struct RequestBatchHeader {
    max_concurrent: usize,
    requests: Vec<HttpRequest>,
}

/// Encodes a batch of requests as a wire frame (native ABI, `op::HTTP` request).
pub fn encode_requests(requests: &[HttpRequest], max_concurrent: usize) -> Vec<u8> {
    let header = RequestBatchHeader {
        max_concurrent,
        requests: requests.to_vec(),
    };
    let blobs: Vec<&[u8]> = requests.iter().map(|r| r.body.as_slice()).collect();
    crate::wire::encode(&header, &blobs)
}

/// Decodes [`encode_requests`]: the requests (with bodies) and the concurrency limit.
pub fn decode_requests(bytes: &[u8]) -> Result<(Vec<HttpRequest>, usize), crate::wire::WireError> {
    let (header, blobs): (RequestBatchHeader, _) = crate::wire::decode(bytes)?;
    if header.requests.len() != blobs.len() {
        return Err(crate::wire::WireError(format!(
            "{} requests but {} bodies",
            header.requests.len(),
            blobs.len()
        )));
    }
    let requests = header
        .requests
        .into_iter()
        .zip(blobs)
        .map(|(mut r, body)| {
            r.body = body;
            r
        })
        .collect();
    Ok((requests, header.max_concurrent))
}

/// Encodes outcomes as a wire frame (native ABI, `op::HTTP` reply). A failed outcome
/// has an empty blob.
pub fn encode_outcomes(outcomes: &[HttpOutcome]) -> Vec<u8> {
    let blobs: Vec<&[u8]> = outcomes
        .iter()
        .map(|o| match o {
            HttpOutcome::Response(r) => r.body.as_slice(),
            HttpOutcome::Failed { .. } => &[][..],
        })
        .collect();
    crate::wire::encode(&outcomes, &blobs)
}

/// Decodes [`encode_outcomes`].
pub fn decode_outcomes(bytes: &[u8]) -> Result<Vec<HttpOutcome>, crate::wire::WireError> {
    let (mut outcomes, blobs): (Vec<HttpOutcome>, _) = crate::wire::decode(bytes)?;
    if outcomes.len() != blobs.len() {
        return Err(crate::wire::WireError(format!(
            "{} outcomes but {} bodies",
            outcomes.len(),
            blobs.len()
        )));
    }
    for (o, body) in outcomes.iter_mut().zip(blobs) {
        if let HttpOutcome::Response(r) = o {
            r.body = body;
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_outcomes_round_trip_with_binary_bodies() {
        let reqs = vec![
            HttpRequest::post_json("http://127.0.0.1:9/x", &serde_json::json!({"a": 1}))
                .header("Authorization", "Bearer k")
                .timeout_ms(5),
            HttpRequest {
                method: "GET".into(),
                url: "https://h/y".into(),
                headers: vec![],
                body: vec![0, 255, 7],
                timeout_ms: 0,
            },
        ];
        assert_eq!(decode_requests(&encode_requests(&reqs, 3)), Ok((reqs, 3)));
        let outs = vec![
            HttpOutcome::Response(HttpResponse {
                status: 200,
                headers: vec![("retry-after".into(), "2".into())],
                body: vec![1, 2, 3, 0],
            }),
            HttpOutcome::Failed {
                kind: HttpFailureKind::Timeout,
                message: "deadline".into(),
            },
        ];
        assert_eq!(decode_outcomes(&encode_outcomes(&outs)), Ok(outs));
    }

    #[test]
    fn debug_never_shows_header_values() {
        let r = HttpRequest::post_json("http://h/", &serde_json::json!({}))
            .header("Authorization", "Bearer sk-secret");
        let shown = format!("{r:?}");
        assert!(shown.contains("Authorization") && !shown.contains("sk-secret"));
    }
}
