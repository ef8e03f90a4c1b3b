//! How long to wait before retrying a failed model request.
//!
//! Backends never retry; the agent loop does, for errors whose
//! [`LlmErrorKind::is_retryable`](super::LlmErrorKind::is_retryable) holds, sleeping
//! [`backoff`] between attempts. The schedule is deterministic (no jitter) so runs and
//! their tests replay the same way: 1 s, 2 s, 4 s, … capped at [`MAX_BACKOFF`], unless the
//! server said how long to wait, in which case that wins (capped at [`MAX_RETRY_AFTER`]).

use std::time::{Duration, SystemTime};

/// Wait before the first retry when the server gave no Retry-After.
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait the exponential schedule reaches.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Longest server-requested wait honoured; a longer Retry-After is clamped to this so a
/// run never sleeps for hours on one header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait before retry number `attempt` (1 for the first retry; 0 counts as 1).
/// `retry_after` is the server's Retry-After, from
/// [`LlmErrorKind::RateLimited`](super::LlmErrorKind::RateLimited).
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let doublings = attempt.saturating_sub(1).min(16);
    BASE_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

/// Parses a Retry-After header value: delay-seconds (`"7"`; fractions accepted, as some
/// proxies send them) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), measured from
/// `now`. A date in the past means "now" (zero). `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_cap() {
        let waits: Vec<u64> = (0..9).map(|a| backoff(a, None).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(u32::MAX, None), MAX_BACKOFF);
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        assert_eq!(
            backoff(5, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
        assert_eq!(backoff(1, Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
