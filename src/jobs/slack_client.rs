//! Slack's Web API, the one method we call: `chat.postMessage` (JSON body, bearer token). The
//! base URL is configurable so tests (and proxies) can stand in for `https://slack.com/api`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`.
    #[error("Slack refused the message: {error}")]
    Api { error: String },
    /// HTTP 429: Slack says when to come back.
    #[error("Slack rate limit; retry after {0:?}")]
    RateLimited(Duration),
    #[error("Slack answered HTTP {0}")]
    Http(u16),
    #[error("Slack could not be reached: {0}")]
    Network(String),
}

impl SlackError {
    /// Errors a later attempt can fix; auth and channel errors need a person.
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::Api { error } => {
                matches!(
                    error.as_str(),
                    "ratelimited"
                        | "rate_limited"
                        | "internal_error"
                        | "fatal_error"
                        | "service_unavailable"
                        | "request_timeout"
                        | "team_added_to_org"
                )
            }
            SlackError::RateLimited(_) | SlackError::Network(_) => true,
            SlackError::Http(status) => *status >= 500,
        }
    }
}

#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Deserialize)]
struct PostMessageReply {
    ok: bool,
    ts: Option<String>,
    error: Option<String>,
}

impl SlackClient {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("ddalkkak/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("static client settings");
        Self { http, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    /// Posts `message` (a `chat.postMessage` body without `channel`) and returns the message's `ts`.
    pub async fn post_message(&self, token: &str, channel: &str, mut message: Value) -> Result<String, SlackError> {
        message["channel"] = json!(channel);
        let response = self
            .http
            .post(format!("{}/chat.postMessage", self.base_url))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(message.to_string())
            .send()
            .await
            .map_err(|e| SlackError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        if status == 429 {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(30);
            return Err(SlackError::RateLimited(Duration::from_secs(after)));
        }
        if !(200..300).contains(&status) {
            return Err(SlackError::Http(status));
        }
        let reply: PostMessageReply = response.json().await.map_err(|e| SlackError::Network(e.to_string()))?;
        match (reply.ok, reply.ts) {
            (true, Some(ts)) => Ok(ts),
            (true, None) => Err(SlackError::Api { error: "missing_ts".into() }),
            (false, _) => Err(SlackError::Api { error: reply.error.unwrap_or_else(|| "unknown_error".into()) }),
        }
    }
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Cuts `text` to at most `max` characters (Slack limits section text to 3,000).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape_mrkdwn("a <@U1> & b>"), "a &lt;@U1&gt; &amp; b&gt;");
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("회의록", 5), "회의록");
        assert_eq!(clip("회의록 요약", 3), "회의…");
    }

    #[test]
    fn retryable_errors() {
        assert!(SlackError::RateLimited(Duration::from_secs(1)).is_retryable());
        assert!(SlackError::Api { error: "internal_error".into() }.is_retryable());
        assert!(!SlackError::Api { error: "invalid_auth".into() }.is_retryable());
        assert!(!SlackError::Api { error: "channel_not_found".into() }.is_retryable());
        assert!(SlackError::Http(503).is_retryable());
        assert!(!SlackError::Http(404).is_retryable());
    }
}
