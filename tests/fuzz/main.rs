//! Fuzz targets (bolero) for everything a client can send: the Ogg and WebM demuxers, the stream
//! decoder in every encoding, the WAV header, control messages, the `/v1/listen` query, and the
//! REST API's JSON bodies and query strings. Under `cargo test` each target runs
//! `BOLERO_RANDOM_ITERATIONS` random inputs (default below); the container targets mutate real
//! encoder output (built here, the seed corpus), so they reach past the first header check. A
//! failure prints the `BOLERO_RANDOM_SEED=…` that replays it. A longer run:
//!
//! ```text
//! BOLERO_RANDOM_ITERATIONS=200000 cargo test --release --test fuzz
//! ```
//!
//! The property everywhere: no panic, a typed error or a result, and output bounded by the
//! documented limits (a message decodes to at most `MAX_MESSAGE_SECONDS` of audio; a REST
//! request is answered below 500 with a problem document).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use bolero::{TypeGenerator, check};
use ddalkkak::audio::{AudioError, Encoding, MAX_MESSAGE_SECONDS, MODEL_RATE, OggDemuxer, StreamDecoder, WebmDemuxer};
use ddalkkak::session::{ControlMessage, ListenParams};

/// Random inputs per target under a plain `cargo test` (a few seconds on two cores).
const ITERATIONS: usize = 2_000;

/// Most 16 kHz samples one message may decode to, plus the resampler's carry.
const MAX_SAMPLES_PER_MESSAGE: usize = (MAX_MESSAGE_SECONDS * MODEL_RATE) as usize + MODEL_RATE as usize;

/// A byte string cut into messages where the fuzzer says.
#[derive(Debug, TypeGenerator)]
struct Messages {
    cuts: Vec<u16>,
    bytes: Vec<u8>,
}

impl Messages {
    fn pieces(&self) -> Vec<&[u8]> {
        split(&self.bytes, &self.cuts)
    }
}

fn split<'a>(bytes: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|&c| c as usize % (bytes.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for end in at.into_iter().chain([bytes.len()]) {
        pieces.push(&bytes[start..end]);
        start = end;
    }
    pieces
}

fn decode_all(encoding: Option<Encoding>, rate: Option<u32>, channels: usize, pieces: &[&[u8]]) {
    let Ok(mut decoder) = StreamDecoder::new(encoding, rate, channels) else { return };
    for piece in pieces {
        match decoder.push(piece) {
            Ok(samples) => {
                assert!(
                    samples.len() <= MAX_SAMPLES_PER_MESSAGE,
                    "{} samples from {} bytes",
                    samples.len(),
                    piece.len()
                );
                assert!(samples.iter().all(|s| s.is_finite()), "non-finite sample");
            }
            // A typed error ends the stream, as it ends the session.
            Err(_) => return,
        }
    }
    assert!(decoder.finish().len() <= MODEL_RATE as usize);
}

/// Feeds `pieces` to a demuxer's `push`: no panic, and never more packet bytes than input.
fn demux(pieces: &[&[u8]], mut push: impl FnMut(&[u8]) -> Result<Vec<Vec<u8>>, AudioError>) {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let mut out = 0;
    for piece in pieces {
        match push(piece) {
            Ok(packets) => out += packets.iter().map(Vec::len).sum::<usize>(),
            Err(_) => return,
        }
    }
    assert!(out <= total, "{out} packet bytes from {total} input bytes");
}

fn demux_ogg(pieces: &[&[u8]]) {
    let mut demuxer = OggDemuxer::default();
    demux(pieces, |piece| demuxer.push(piece));
}

fn demux_webm(pieces: &[&[u8]]) {
    let mut demuxer = WebmDemuxer::default();
    demux(pieces, |piece| demuxer.push(piece));
}

#[test]
fn ogg_demuxer() {
    check!().with_iterations(ITERATIONS).with_type::<Messages>().for_each(|m| demux_ogg(&m.pieces()));
}

#[test]
fn webm_demuxer() {
    check!().with_iterations(ITERATIONS).with_type::<Messages>().for_each(|m| demux_webm(&m.pieces()));
}

/// The containers as libopus and the muxers write them, mutated.
#[cfg(feature = "opus")]
mod real_streams {
    use super::*;
    use common::containers::{ogg_opus, opus_packets, webm};

    /// Byte edits to a valid stream: overwrite, insert, truncate.
    #[derive(Debug, TypeGenerator)]
    enum Edit {
        Set(u32, u8),
        Insert(u32, Vec<u8>),
        Truncate(u32),
    }

    #[derive(Debug, TypeGenerator)]
    struct Mutation {
        edits: Vec<Edit>,
        cuts: Vec<u16>,
    }

    impl Mutation {
        fn apply(&self, seed: &[u8]) -> Vec<u8> {
            let mut bytes = seed.to_vec();
            for edit in self.edits.iter().take(16) {
                let len = bytes.len().max(1);
                match edit {
                    Edit::Set(at, b) => {
                        let at = *at as usize % len;
                        if at < bytes.len() {
                            bytes[at] = *b;
                        }
                    }
                    Edit::Insert(at, more) => {
                        let at = *at as usize % (bytes.len() + 1);
                        bytes.splice(at..at, more.iter().copied().take(256));
                    }
                    Edit::Truncate(at) => bytes.truncate(*at as usize % len),
                }
            }
            bytes
        }
    }

    /// Real encoder output to mutate: 0.4 s of a tone as Ogg/Opus and as WebM/Opus.
    fn seeds() -> &'static (Vec<u8>, Vec<u8>) {
        static SEEDS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
        SEEDS.get_or_init(|| {
            let tone: Vec<f32> = (0..48_000 * 2 / 5).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            let (head, pre_skip, packets) = opus_packets(&tone, opus::Application::Voip, 24_000);
            (ogg_opus(&tone), webm::file(&head, pre_skip, &packets))
        })
    }

    #[test]
    fn ogg_demuxer_on_real_streams() {
        check!().with_iterations(ITERATIONS).with_type::<Mutation>().for_each(|m| {
            let bytes = m.apply(&seeds().0);
            demux_ogg(&split(&bytes, &m.cuts));
            decode_all(Some(Encoding::OggOpus), None, 1, &split(&bytes, &m.cuts));
        });
    }

    #[test]
    fn webm_demuxer_on_real_streams() {
        check!().with_iterations(ITERATIONS).with_type::<Mutation>().for_each(|m| {
            let bytes = m.apply(&seeds().1);
            demux_webm(&split(&bytes, &m.cuts));
            decode_all(Some(Encoding::WebmOpus), None, 1, &split(&bytes, &m.cuts));
            // Sniffed, as a client that names no encoding gets it.
            decode_all(None, None, 1, &split(&bytes, &m.cuts));
        });
    }
}

const RATES: [Option<u32>; 9] =
    [None, Some(8_000), Some(16_000), Some(44_100), Some(48_000), Some(96_000), Some(0), Some(1), Some(u32::MAX)];

/// Every encoding, rate and channel count a client can name (valid or not) over any bytes.
#[test]
fn stream_decoder() {
    const ENCODINGS: [Option<Encoding>; 8] = [
        None,
        Some(Encoding::Linear16),
        Some(Encoding::Linear32),
        Some(Encoding::Float32),
        Some(Encoding::Opus),
        Some(Encoding::OggOpus),
        Some(Encoding::WebmOpus),
        Some(Encoding::Wav),
    ];
    check!().with_iterations(ITERATIONS).with_type::<(u8, u8, u8, Messages)>().for_each(
        |(encoding, rate, channels, m)| {
            let encoding = ENCODINGS[*encoding as usize % ENCODINGS.len()];
            // Mostly rates and channel counts a client would name, so decoding is reached.
            let rate = RATES[*rate as usize % RATES.len()];
            decode_all(encoding, rate, 1 + *channels as usize % 3, &m.pieces());
        },
    );
}

/// WAV headers: a valid `RIFF…WAVE` start, then any chunks.
#[test]
fn wav_header() {
    check!().with_iterations(ITERATIONS).with_type::<(u8, u8, u8, u8, Messages)>().for_each(
        |(format, channels, rate, bits, m)| {
            let format: u16 = [1, 3, 0xFFFE, 2, 0][*format as usize % 5];
            let channels = *channels as u16 % 4;
            let rate = RATES[*rate as usize % RATES.len()].unwrap_or(16_000);
            let bits: u16 = [16, 32, 24, 8, 0][*bits as usize % 5];
            let align = channels * bits / 8;
            let mut bytes = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00".to_vec();
            bytes.extend_from_slice(&format.to_le_bytes());
            bytes.extend_from_slice(&channels.to_le_bytes());
            bytes.extend_from_slice(&rate.to_le_bytes());
            bytes.extend_from_slice(&(rate.wrapping_mul(align as u32)).to_le_bytes());
            bytes.extend_from_slice(&align.to_le_bytes());
            bytes.extend_from_slice(&bits.to_le_bytes());
            // Then any chunks: often straight to `data`.
            if m.cuts.len() % 2 == 0 {
                bytes.extend_from_slice(b"data\xff\xff\xff\xff");
            }
            bytes.extend_from_slice(&m.bytes);
            for encoding in [Some(Encoding::Wav), None] {
                decode_all(encoding, None, 1, &split(&bytes, &m.cuts));
            }
        },
    );
}

#[test]
fn control_message() {
    check!().with_iterations(ITERATIONS).for_each(|bytes: &[u8]| {
        let _ = ControlMessage::parse(&String::from_utf8_lossy(bytes));
    });
    check!().with_iterations(ITERATIONS).with_type::<(u8, String)>().for_each(|(kind, extra)| {
        let kind = ["KeepAlive", "Finalize", "CloseStream", "keepalive", ""][*kind as usize % 5];
        let _ = ControlMessage::parse(&format!(r#"{{"type":"{kind}"{extra}}}"#));
    });
}

/// `/v1/listen`'s query as axum reads it, then validated against a multilingual model's
/// languages and an English-only one's.
#[test]
fn listen_query() {
    let languages = ["multi", "en", "ko", "ja"].map(String::from);
    check!().with_iterations(ITERATIONS).with_type::<Vec<(u8, String)>>().for_each(|pairs| {
        const NAMES: [&str; 14] = [
            "encoding",
            "sample_rate",
            "channels",
            "language",
            "model",
            "interim_results",
            "punctuate",
            "diarize",
            "endpointing",
            "utterance_end_ms",
            "vad_events",
            "title",
            "wait_for_action_items",
            "token",
        ];
        let query =
            query_string(pairs.iter().map(|(name, value)| (NAMES[*name as usize % NAMES.len()], value.as_str())));
        let uri: axum::http::Uri = match format!("/v1/listen?{query}").parse() {
            Ok(uri) => uri,
            Err(_) => return,
        };
        for served in [&languages[..], &[]] {
            // Read again for each: validation takes the parameters.
            if let Ok(axum::extract::Query(params)) = axum::extract::Query::<ListenParams>::try_from_uri(&uri) {
                let _ = params.validate(served);
            }
        }
    });
}

/// `name=value&…`, form-encoded as a client's URL library would.
fn query_string<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut url = reqwest::Url::parse("http://server/").expect("a valid base");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

// ---- REST -----------------------------------------------------------------------------------

/// A JSON value the fuzzer builds, its object keys drawn mostly from the API's field names so
/// that bodies get past "unknown field" into validation and the store.
#[derive(Debug, TypeGenerator)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A real id of the tenant (index into its users, meetings, tasks).
    KnownId(u8),
    Uuid(u128),
    Date(i32, u32),
    Choice(u8),
}

#[derive(Debug, TypeGenerator)]
enum Value {
    Scalar(Scalar),
    Array(Vec<Scalar>),
    Object(Vec<(u8, Scalar)>),
}

#[derive(Debug, TypeGenerator)]
enum Body {
    Object(Vec<(u8, Value)>),
    Raw(Vec<u8>),
    Other(Value),
}

const FIELDS: [&str; 29] = [
    "title",
    "host_id",
    "audio_file_url",
    "audio_duration",
    "description",
    "status",
    "assignee_id",
    "due_date",
    "meeting_id",
    "is_ai_generated",
    "email",
    "name",
    "role",
    "slack_user_id",
    "default_language",
    "scope",
    "session_id",
    "ttl_seconds",
    "api_key",
    "service_type",
    "access_token",
    "channel_id",
    "config",
    "user_id",
    "label",
    "expires_at",
    "default_model",
    "recording_retention_days",
    "nope",
];
const CHOICES: [&str; 16] = [
    "TODO",
    "IN_PROGRESS",
    "DONE",
    "OWNER",
    "ADMIN",
    "MEMBER",
    "stream",
    "view",
    "SLACK",
    "ko",
    "en",
    "multi",
    "https://example.com/a.wav",
    "s3://b/a.mp3",
    "a@b.co",
    "\u{0}",
];

struct Ids {
    ids: Vec<uuid::Uuid>,
}

fn scalar(s: &Scalar, ids: &Ids) -> serde_json::Value {
    use serde_json::json;
    match s {
        Scalar::Null => json!(null),
        Scalar::Bool(b) => json!(b),
        Scalar::Int(i) => json!(i),
        Scalar::Float(f) => serde_json::Number::from_f64(*f).map_or(json!(null), serde_json::Value::Number),
        Scalar::Text(t) => json!(t),
        Scalar::KnownId(i) => json!(ids.ids[*i as usize % ids.ids.len()]),
        Scalar::Uuid(u) => json!(uuid::Uuid::from_u128(*u)),
        Scalar::Date(days, secs) => {
            let t = chrono::DateTime::from_timestamp(*days as i64 % 400_000 * 86_400 + (*secs % 86_400) as i64, 0);
            t.map_or(json!("2026-13-45T99:00:00Z"), |t| json!(t.to_rfc3339()))
        }
        Scalar::Choice(c) => json!(CHOICES[*c as usize % CHOICES.len()]),
    }
}

fn value(v: &Value, ids: &Ids) -> serde_json::Value {
    match v {
        Value::Scalar(s) => scalar(s, ids),
        Value::Array(items) => items.iter().take(8).map(|s| scalar(s, ids)).collect(),
        Value::Object(fields) => object(fields.iter().map(|(k, s)| (*k, scalar(s, ids)))),
    }
}

fn object(fields: impl Iterator<Item = (u8, serde_json::Value)>) -> serde_json::Value {
    serde_json::Value::Object(fields.take(12).map(|(k, v)| (FIELDS[k as usize % FIELDS.len()].to_owned(), v)).collect())
}

/// The requests that take a body or a query, on ids of the tenant or not.
#[derive(Debug, TypeGenerator)]
struct Request {
    endpoint: u8,
    id: Scalar,
    body: Body,
    query: Vec<(u8, Scalar)>,
}

const ENDPOINTS: [(&str, &str); 14] = [
    ("POST", "/v1/meetings"),
    ("PATCH", "/v1/meetings/{id}"),
    ("POST", "/v1/tasks"),
    ("PATCH", "/v1/tasks/{id}"),
    ("POST", "/v1/users"),
    ("PATCH", "/v1/users/{id}"),
    ("PATCH", "/v1/tenant"),
    ("POST", "/v1/api-keys"),
    ("POST", "/v1/stream-tokens"),
    ("POST", "/v1/integrations"),
    ("PATCH", "/v1/integrations/{id}"),
    ("GET", "/v1/meetings"),
    ("GET", "/v1/tasks"),
    ("GET", "/v1/usage"),
];
const QUERY_NAMES: [&str; 12] = [
    "stt_status",
    "host_id",
    "q",
    "created_from",
    "created_to",
    "deleted",
    "limit",
    "cursor",
    "status",
    "assignee_id",
    "from",
    "to",
];

struct Server {
    runtime: tokio::runtime::Runtime,
    app: common::TestApp,
    key: String,
    ids: Ids,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (app, key, ids) = runtime.block_on(async {
            let db = common::sqlite().await;
            let t = common::tenant(&*db.store, "fuzz").await;
            let unlimited = ddalkkak::http::HttpLimits { rate_limit: None, ..Default::default() };
            let app = common::TestApp::spawn_with_http_limits(db, unlimited).await;
            let (_, meeting) = app.post("/v1/meetings", &t.api_key, serde_json::json!({"title": "m"})).await;
            let (_, task) = app.post("/v1/tasks", &t.api_key, serde_json::json!({"title": "t"})).await;
            let ids = [
                t.owner.id.to_string(),
                meeting["id"].as_str().unwrap().to_owned(),
                task["id"].as_str().unwrap().to_owned(),
            ];
            let ids = Ids { ids: ids.iter().map(|s| s.parse().unwrap()).collect() };
            (app, t.api_key, ids)
        });
        Server { runtime, app, key, ids }
    })
}

#[test]
fn rest_bodies_and_queries() {
    static STATUSES: std::sync::Mutex<std::collections::BTreeMap<u16, usize>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    check!().with_iterations(ITERATIONS / 2).with_type::<Request>().for_each(|r| {
        // Reached through the static, not captured: the closure must be unwind-safe.
        let s = server();
        let (method, template) = ENDPOINTS[r.endpoint as usize % ENDPOINTS.len()];
        let text = |v: serde_json::Value| match v {
            serde_json::Value::String(v) => v,
            other => other.to_string(),
        };
        // The id as one path segment, percent-encoded.
        let mut url = reqwest::Url::parse("http://server/").expect("a valid base");
        url.path_segments_mut().expect("a base").push(&text(scalar(&r.id, &s.ids)));
        let id = url.path().trim_start_matches('/').to_owned();
        let values: Vec<(&str, String)> = r
            .query
            .iter()
            .take(6)
            .map(|(k, v)| (QUERY_NAMES[*k as usize % QUERY_NAMES.len()], text(scalar(v, &s.ids))))
            .collect();
        let query = query_string(values.iter().map(|(k, v)| (*k, v.as_str())));
        let path = format!("{}?{query}", template.replace("{id}", &id));
        let body = match &r.body {
            Body::Object(fields) => object(fields.iter().map(|(k, v)| (*k, value(v, &s.ids)))).to_string().into_bytes(),
            Body::Other(v) => value(v, &s.ids).to_string().into_bytes(),
            Body::Raw(bytes) => bytes.clone(),
        };
        let (status, content_type, text) = s.runtime.block_on(async {
            let response = s
                .app
                .http
                .request(method.parse().unwrap(), s.app.url(&path))
                .bearer_auth(&s.key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (status, content_type, response.text().await.unwrap_or_default())
        });
        *STATUSES.lock().unwrap().entry(status).or_default() += 1;
        assert!(status < 500, "{method} {path} {}: {status} {text}", String::from_utf8_lossy(&body));
        if status >= 400 {
            assert!(content_type.starts_with("application/problem+json"), "{method} {path}: {status} {content_type}");
            let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(problem["code"].is_string(), "{text}");
        }
    });
    // What the inputs reached: validation refusals only would mean the fuzzer never gets past
    // the door.
    let statuses = STATUSES.lock().unwrap();
    eprintln!("REST statuses: {statuses:?}");
    assert!(statuses.keys().any(|s| (200..300).contains(s)), "no request succeeded: {statuses:?}");
}
