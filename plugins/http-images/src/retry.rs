//! Sending a batch through the host with retries: 429s, 5xx, timeouts and dropped
//! connections are retried with exponential backoff and jitter (or after the server's
//! `Retry-After`, capped), only for the requests that failed; any other answer is final.

use crate::settings::Settings;
use maia_plugin_sdk::{Host, HttpFailureKind, HttpOutcome, HttpRequest, HttpResponse, ToolError};
use std::time::{Duration, SystemTime};

/// What became of one request after all its tries.
#[derive(Debug)]
pub enum Final {
    /// The server answered with a status that is not retried (2xx or a 4xx other than 429).
    Answer(HttpResponse),
    /// Every try failed; why the last one did.
    GaveUp(String),
}

/// Why a try is worth repeating, and how long the server asked us to wait.
fn retryable(outcome: &HttpOutcome) -> Option<(String, Option<Duration>)> {
    match outcome {
        HttpOutcome::Response(r) if r.status == 429 || r.status >= 500 => Some((
            format!(
                "the server answered {}{}",
                r.status,
                crate::backend::excerpt_suffix(&r.body)
            ),
            r.header("retry-after").and_then(parse_retry_after),
        )),
        HttpOutcome::Response(_) => None,
        HttpOutcome::Failed { kind, message } => Some((
            match kind {
                HttpFailureKind::Timeout => format!("timed out: {message}"),
                HttpFailureKind::Connect => format!("could not connect: {message}"),
                HttpFailureKind::Other => message.clone(),
            },
            None,
        )),
    }
}

/// `Retry-After` as seconds or an HTTP-date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Exponential backoff with jitter for retry number `attempt` (0-based): a random delay
/// between half and all of `base * 2^attempt`, capped.
pub fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let cap = Duration::from_secs_f64(settings.retry_max_s);
    let full = Duration::from_millis(settings.retry_base_ms)
        .saturating_mul(1u32 << attempt.min(20))
        .min(cap);
    let jitter = 0.5 + 0.5 * unit_random();
    full.mul_f64(jitter)
}

fn unit_random() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let hash = blake3::hash(&nanos.to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash.as_bytes()[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends `requests` through the host, retrying the failed ones. `Err` only when the
/// host refuses the batch (a destination not allowed, no network grant).
pub fn send_all(
    host: &mut dyn Host,
    settings: &Settings,
    requests: &[HttpRequest],
) -> Result<Vec<Final>, ToolError> {
    let mut results: Vec<Option<Final>> = requests.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..requests.len()).collect();
    let mut attempt = 0u32;
    while !pending.is_empty() {
        // The first round sends every request as it is; only retries need a copy.
        let outcomes = if pending.len() == requests.len() {
            host.http(requests, settings.max_concurrent)?
        } else {
            let batch: Vec<HttpRequest> = pending.iter().map(|&i| requests[i].clone()).collect();
            host.http(&batch, settings.max_concurrent)?
        };
        let mut again = Vec::new();
        let mut wait = Duration::ZERO;
        for (&i, outcome) in pending.iter().zip(outcomes) {
            match retryable(&outcome) {
                None => {
                    if let HttpOutcome::Response(r) = outcome {
                        results[i] = Some(Final::Answer(r));
                    }
                }
                Some((why, retry_after)) => {
                    if attempt < settings.retries {
                        let delay = retry_after
                            .map(|d| d.min(Duration::from_secs_f64(settings.retry_max_s)))
                            .unwrap_or_else(|| backoff(settings, attempt));
                        wait = wait.max(delay);
                        again.push(i);
                    } else {
                        let tries = attempt + 1;
                        results[i] = Some(Final::GaveUp(if tries > 1 {
                            format!("{why} (gave up after {tries} tries)")
                        } else {
                            why
                        }));
                    }
                }
            }
        }
        if !again.is_empty() {
            host.log(
                maia_plugin_sdk::LogLevel::Warn,
                &format!(
                    "http-images: retrying {} request(s) in {:.1} s",
                    again.len(),
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        }
        pending = again;
        attempt += 1;
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Final::GaveUp("no answer".into())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        let later = SystemTime::now() + Duration::from_secs(30);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).expect("date");
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = Settings {
            retry_base_ms: 100,
            retry_max_s: 1.0,
            ..Settings::default()
        };
        let first = backoff(&s, 0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = backoff(&s, 10);
        assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
    }
}
