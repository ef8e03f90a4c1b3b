//! The network the host lends native plugins ([`Host::http`](maia_plugin_sdk::Host::http)):
//! which destinations a plugin may reach ([`NetPolicy`]), and the executor that makes the
//! requests ([`execute`]).
//!
//! Native plugins run in-process, so the only network the host can vouch for is the one
//! it makes itself: a plugin that asks the host to send its requests gets each
//! destination checked against its manifest's `[permissions] net` list (resolved at load
//! time, `config:KEY` entries from its settings) and the user's grant, and a batch with
//! one refused destination is refused whole, before anything is sent. Redirects are not
//! followed (a 3xx goes back to the plugin), so a server cannot bounce a request to a
//! host the policy does not name.
//!
//! The executor runs on a small private tokio runtime of its own: plugin calls arrive on
//! blocking threads in agent runs and on the main thread in `maia call`, and in both
//! cases the caller only waits on a channel, so it works inside or outside tokio.
//! Headers (API keys) are never logged or put in error messages.

use maia_plugin_sdk::{HttpFailureKind, HttpOutcome, HttpRequest, HttpResponse};
use reqwest::Url;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Deadline of a request that names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest response body the host reads; a longer one is a failed request.
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// Most requests the host runs at once for one batch, whatever the plugin asks.
pub const MAX_CONCURRENT: usize = 32;

/// A destination: lower-case host name and port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Destination {
    /// Host name or IP literal, lower-case, IPv6 without brackets.
    pub host: String,
    /// Port; `None` in a policy entry means any port.
    pub port: Option<u16>,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// The URL's host, lower-case, IPv6 without brackets.
fn host_of(url: &Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

impl Destination {
    /// The destination of an absolute `http`/`https` URL (default ports filled in).
    pub fn of_url(url: &str) -> Result<Destination, String> {
        let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "`{url}`: only http and https URLs are allowed, not {}",
                parsed.scheme()
            ));
        }
        let host = host_of(&parsed).ok_or_else(|| format!("`{url}` names no host"))?;
        Ok(Destination {
            host,
            port: parsed.port_or_known_default(),
        })
    }

    /// A policy entry: `host`, `host:port` or `[v6]:port`.
    fn parse_entry(entry: &str) -> Result<Destination, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("empty host".into());
        }
        if entry.contains("://") {
            return Destination::of_url(entry);
        }
        // Parse as the authority of a URL so IPv6 and ports are handled one way.
        let parsed = Url::parse(&format!("http://{entry}"))
            .map_err(|e| format!("`{entry}` is not a host or host:port ({e})"))?;
        let host = host_of(&parsed).ok_or_else(|| format!("`{entry}` names no host"))?;
        Ok(Destination {
            host,
            port: parsed.port(),
        })
    }

    fn allows(&self, dest: &Destination) -> bool {
        self.host == dest.host && (self.port.is_none() || self.port == dest.port)
    }
}

/// Where one plugin may connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetPolicy {
    allowed: BTreeSet<Destination>,
    /// Entries that could not be resolved, with why (e.g. `config:base_url` unset).
    unresolved: Vec<String>,
}

impl NetPolicy {
    /// Resolves a manifest's `[permissions] net` entries: literal `host`/`host:port`, or
    /// `config:KEY` for the host and port of the URL at `KEY` in the plugin's settings.
    pub fn resolve(entries: &[String], settings: &serde_json::Value) -> NetPolicy {
        let mut policy = NetPolicy::default();
        for entry in entries {
            let resolved = match entry.strip_prefix("config:") {
                Some(key) => match settings.get(key).and_then(|v| v.as_str()) {
                    Some(url) if !url.trim().is_empty() => {
                        Destination::of_url(url.trim()).map_err(|e| format!("`{entry}`: {e}"))
                    }
                    _ => Err(format!("`{entry}`: the plugin's settings have no `{key}`")),
                },
                None => Destination::parse_entry(entry).map_err(|e| format!("`{entry}`: {e}")),
            };
            match resolved {
                Ok(d) => {
                    policy.allowed.insert(d);
                }
                Err(why) => policy.unresolved.push(why),
            }
        }
        policy
    }

    /// A policy allowing exactly these destinations (`host` or `host:port`).
    pub fn allowing(entries: &[&str]) -> NetPolicy {
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        NetPolicy::resolve(&entries, &serde_json::Value::Null)
    }

    /// The allowed destinations, for messages.
    pub fn describe(&self) -> String {
        if self.allowed.is_empty() {
            "none".into()
        } else {
            self.allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Entries that could not be resolved.
    pub fn unresolved(&self) -> &[String] {
        &self.unresolved
    }

    /// Checks one URL: `Ok` with its destination, or why it is refused.
    pub fn check(&self, url: &str) -> Result<Destination, String> {
        let dest = Destination::of_url(url)?;
        if self.allowed.iter().any(|a| a.allows(&dest)) {
            Ok(dest)
        } else {
            Err(format!("{dest} is not an allowed destination"))
        }
    }
}

fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("maia-plugin-net")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the plugin network runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(30))
                .user_agent(concat!("maia/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })
        .clone()
}

/// Makes the requests, up to `max_concurrent` at once (at least 1, at most
/// [`MAX_CONCURRENT`]); outcomes in request order. Destinations are *not* checked here:
/// the caller checks them against the plugin's policy first.
pub fn execute(requests: &[HttpRequest], max_concurrent: usize) -> Vec<HttpOutcome> {
    let failed_all = |message: String| {
        requests
            .iter()
            .map(|_| HttpOutcome::Failed {
                kind: HttpFailureKind::Other,
                message: message.clone(),
            })
            .collect()
    };
    if requests.is_empty() {
        return Vec::new();
    }
    let (rt, client) = match (runtime(), client()) {
        (Ok(rt), Ok(client)) => (rt, client),
        (Err(e), _) | (_, Err(e)) => return failed_all(e),
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(
        max_concurrent.clamp(1, MAX_CONCURRENT),
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, request) in requests.iter().cloned().enumerate() {
        let (limit, client, tx) = (limit.clone(), client.clone(), tx.clone());
        rt.spawn(async move {
            let outcome = match limit.acquire_owned().await {
                Ok(_permit) => send(&client, request).await,
                Err(_) => HttpOutcome::Failed {
                    kind: HttpFailureKind::Other,
                    message: "request cancelled".into(),
                },
            };
            let _ = tx.send((i, outcome));
        });
    }
    drop(tx);
    let mut outcomes: Vec<Option<HttpOutcome>> = vec![None; requests.len()];
    while let Ok((i, outcome)) = rx.recv() {
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or(HttpOutcome::Failed {
                kind: HttpFailureKind::Other,
                message: "the request task ended without an answer".into(),
            })
        })
        .collect()
}

async fn send(client: &reqwest::Client, request: HttpRequest) -> HttpOutcome {
    let timeout = if request.timeout_ms == 0 {
        DEFAULT_TIMEOUT
    } else {
        Duration::from_millis(request.timeout_ms)
    };
    let label = Destination::of_url(&request.url)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| "the server".into());
    let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            return HttpOutcome::Failed {
                kind: HttpFailureKind::Other,
                message: format!("`{}` is not an HTTP method", request.method),
            };
        }
    };
    let mut builder = client
        .request(method, &request.url)
        .timeout(timeout)
        .body(request.body);
    for (name, value) in &request.headers {
        let Ok(mut value) = reqwest::header::HeaderValue::from_str(value) else {
            return HttpOutcome::Failed {
                kind: HttpFailureKind::Other,
                message: format!("header `{name}` has a value that is not valid in HTTP"),
            };
        };
        value.set_sensitive(true);
        builder = builder.header(name.as_str(), value);
    }
    let fail = |e: reqwest::Error| {
        let kind = if e.is_timeout() {
            HttpFailureKind::Timeout
        } else if e.is_connect() {
            HttpFailureKind::Connect
        } else {
            HttpFailureKind::Other
        };
        let message = match kind {
            HttpFailureKind::Timeout => format!(
                "{label} did not answer within {:.1} s",
                timeout.as_secs_f64()
            ),
            _ => format!("{label}: {}", error_chain(&e.without_url())),
        };
        HttpOutcome::Failed { kind, message }
    };
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return HttpOutcome::Failed {
                        kind: HttpFailureKind::Other,
                        message: format!("{label} sent a body over {} MiB", MAX_BODY_BYTES >> 20),
                    };
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return fail(e),
        }
    }
    HttpOutcome::Response(HttpResponse {
        status,
        headers,
        body,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{Read, Write};

    #[test]
    fn policy_resolves_literal_and_config_entries() {
        let settings = json!({"base_url": "http://127.0.0.1:7860/sdapi"});
        let policy = NetPolicy::resolve(
            &[
                "config:base_url".into(),
                "api.openai.com".into(),
                "config:missing".into(),
            ],
            &settings,
        );
        assert!(
            policy
                .check("http://127.0.0.1:7860/sdapi/v1/txt2img")
                .is_ok()
        );
        assert!(policy.check("http://127.0.0.1:7861/").is_err());
        assert!(policy.check("https://API.openai.com/v1/images").is_ok());
        assert!(policy.check("http://api.openai.com:8080/").is_ok());
        assert!(policy.check("https://evil.example/").is_err());
        assert!(policy.check("ftp://api.openai.com/").is_err());
        assert_eq!(policy.unresolved().len(), 1);
        assert!(policy.unresolved()[0].contains("missing"));
    }

    #[test]
    fn default_ports_are_filled_in() {
        let policy = NetPolicy::allowing(&["example.com:443"]);
        assert!(policy.check("https://example.com/x").is_ok());
        assert!(policy.check("http://example.com/x").is_err());
        let v6 = NetPolicy::allowing(&["[::1]:8080"]);
        assert!(v6.check("http://[::1]:8080/").is_ok());
        assert_eq!(v6.describe(), "[::1]:8080");
    }

    fn one_shot_server(reply: &'static [u8], delay: Duration) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(reply);
            }
        });
        port
    }

    #[test]
    fn executor_returns_responses_timeouts_and_refusals_in_order() {
        let ok = one_shot_server(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
            Duration::ZERO,
        );
        let slow = one_shot_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Duration::from_secs(3),
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let req = |port: u16, timeout_ms| HttpRequest {
            method: "GET".into(),
            url: format!("http://127.0.0.1:{port}/x"),
            headers: vec![("Authorization".into(), "Bearer sk-secret".into())],
            body: Vec::new(),
            timeout_ms,
        };
        let out = execute(&[req(ok, 5000), req(slow, 300), req(closed, 5000)], 3);
        match &out[0] {
            HttpOutcome::Response(r) => {
                assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
                assert_eq!(r.body, b"no");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(
                &out[1],
                HttpOutcome::Failed {
                    kind: HttpFailureKind::Timeout,
                    ..
                }
            ),
            "{:?}",
            out[1]
        );
        match &out[2] {
            HttpOutcome::Failed { kind, message } => {
                assert_eq!(*kind, HttpFailureKind::Connect, "{message}");
                assert!(!message.contains("sk-secret"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn executor_works_from_inside_a_tokio_runtime() {
        let port = one_shot_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            Duration::ZERO,
        );
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let out = rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                execute(
                    &[HttpRequest {
                        method: "GET".into(),
                        url: format!("http://127.0.0.1:{port}/"),
                        headers: vec![],
                        body: vec![],
                        timeout_ms: 5000,
                    }],
                    1,
                )
            })
            .await
            .expect("join")
        });
        assert!(matches!(&out[0], HttpOutcome::Response(r) if r.body == b"x"));
    }
}
