//! A client streaming speech at real-time pace to `/v1/listen`, recording what a person waiting
//! for captions would notice: shared by the examples that load a server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Default)]
pub struct ClientStats {
    /// (seconds into the stream, latency seconds, transcript) per non-empty final.
    pub finals: Vec<(f64, f64, String)>,
    pub partial_gaps: Vec<f64>,
    pub meeting_id: Option<String>,
    /// The close frame's code, when the server sent one.
    pub close: Option<u16>,
    pub refused: bool,
    pub errors: Vec<String>,
}

/// Streams `seconds` of `pcm` (16 kHz, looped from `offset`) in 100 ms frames at real time, then
/// `CloseStream`, and reads until the server closes. Final latency: from the moment the audio up
/// to a final's end was sent to the moment the final arrives (it includes the endpointing wait).
pub async fn stream_speech(url: String, key: String, pcm: Arc<Vec<i16>>, offset: usize, seconds: f64) -> ClientStats {
    let mut stats = ClientStats::default();
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    let ws = match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            stats.refused = true;
            stats.errors.push(e.to_string());
            return stats;
        }
    };
    let (mut tx, mut rx) = ws.split();
    let started = Instant::now();
    let frames = (seconds * 10.0) as usize;
    let sender = tokio::spawn(async move {
        for i in 0..frames {
            tokio::time::sleep_until((started + Duration::from_millis(100 * i as u64)).into()).await;
            let from = (offset + i * 1600) % pcm.len();
            let chunk: Vec<u8> = (0..1600).flat_map(|k| pcm[(from + k) % pcm.len()].to_le_bytes()).collect();
            if tx.send(Message::Binary(chunk.into())).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await;
    });
    let mut last_partial: Option<(f64, Instant)> = None;
    while let Some(Ok(message)) = rx.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                stats.close = frame.map(|f| u16::from(f.code));
                continue;
            }
            _ => continue,
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        match m["type"].as_str() {
            Some("SessionStarted") => stats.meeting_id = m["meeting_id"].as_str().map(str::to_owned),
            Some("Results") => {
                let now = Instant::now();
                let start = m["start"].as_f64().unwrap_or(0.0);
                if m["is_final"] == true {
                    last_partial = None;
                    let transcript = m["channel"]["alternatives"][0]["transcript"].as_str().unwrap_or("");
                    if !transcript.is_empty() {
                        let audio_end = start + m["duration"].as_f64().unwrap_or(0.0);
                        let sent = started + Duration::from_secs_f64(audio_end);
                        let latency = now.saturating_duration_since(sent).as_secs_f64();
                        stats.finals.push((audio_end, latency, transcript.to_owned()));
                    }
                } else {
                    if let Some((utterance, at)) = last_partial
                        && utterance == start
                    {
                        stats.partial_gaps.push(now.duration_since(at).as_secs_f64());
                    }
                    last_partial = Some((start, now));
                }
            }
            Some("Error") => stats.errors.push(m["code"].as_str().unwrap_or("?").to_owned()),
            _ => {}
        }
    }
    let _ = sender.await;
    stats
}

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}
