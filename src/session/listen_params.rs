//! Query parameters of `/v1/listen`, Deepgram's names and meanings. Parameters Deepgram has and
//! we do not (`smart_format`, `tag`, …) are accepted and ignored, so SDK defaults never fail.

use serde::Deserialize;

use crate::audio::Encoding;

#[derive(Debug, Default, Deserialize)]
pub struct ListenParams {
    pub encoding: Option<Encoding>,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub language: Option<String>,
    pub model: Option<String>,
    pub interim_results: Option<bool>,
    pub punctuate: Option<bool>,
    pub diarize: Option<bool>,
    /// `false`, or the silence in ms that ends an utterance.
    pub endpointing: Option<String>,
    pub utterance_end_ms: Option<u32>,
    pub vad_events: Option<bool>,
    /// Our extension: the meeting's title.
    pub title: Option<String>,
    /// Our extension: after `SessionEnded` keep the socket open until `ActionItemsReady`.
    pub wait_for_action_items: Option<bool>,
    /// A stream token, for clients that can set neither headers nor subprotocols.
    pub token: Option<String>,
}

/// The validated form.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub encoding: Option<Encoding>,
    pub sample_rate: Option<u32>,
    pub channels: usize,
    pub interim_results: bool,
    pub diarize: bool,
    pub endpointing_ms: Option<u32>,
    pub utterance_end_ms: Option<u32>,
    pub vad_events: bool,
    pub title: Option<String>,
    pub wait_for_action_items: bool,
    /// The language to decode in (a code the model knows); `None`: detected on the first speech
    /// (multilingual models) or English (English-only models).
    pub language: Option<String>,
}

/// Shortest accepted endpointing: below this every breath ends an utterance.
pub const MIN_ENDPOINTING_MS: u32 = 100;
/// Pauses between turns in conversation are often shorter than half a second.
pub const DEFAULT_ENDPOINTING_MS: u32 = 300;

impl ListenParams {
    /// The language asked for as Whisper knows it: Deepgram's codes carry regions ("en-US",
    /// "ko-KR"), Whisper knows the base language. `None` when not given or `multi` (detect).
    pub fn base_language(&self) -> Option<String> {
        self.requested_language().filter(|l| l != "multi")
    }

    /// The base code as asked, `multi` included (which asks for a model that detects).
    pub fn requested_language(&self) -> Option<String> {
        Some(self.language.as_deref()?.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase())
    }

    /// `languages`: the codes the served model can decode in; empty for an English-only model.
    pub fn validate(self, languages: &[String]) -> Result<ListenOptions, (&'static str, String)> {
        let endpointing_ms = match self.endpointing.as_deref() {
            None | Some("true") => Some(DEFAULT_ENDPOINTING_MS),
            Some("false") => None,
            Some(ms) => match ms.parse::<u32>() {
                Ok(ms) => Some(ms.clamp(MIN_ENDPOINTING_MS, 10_000)),
                Err(_) => return Err(("endpointing", "must be false or milliseconds".into())),
            },
        };
        let language = match self.base_language() {
            None => None,
            Some(base) if languages.is_empty() => {
                if base != "en" {
                    return Err(("language", format!("the served model is English-only; got {base}")));
                }
                None
            }
            Some(base) if languages.contains(&base) => Some(base),
            Some(base) => return Err(("language", format!("the served model does not know {base:?}"))),
        };
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty() || t.chars().count() > 200) {
            return Err(("title", "must be 1..=200 characters".into()));
        }
        if self.utterance_end_ms.is_some_and(|ms| !(1000..=5000).contains(&ms)) {
            return Err(("utterance_end_ms", "must be 1000..=5000".into()));
        }
        Ok(ListenOptions {
            encoding: self.encoding,
            sample_rate: self.sample_rate,
            channels: self.channels.unwrap_or(1),
            interim_results: self.interim_results.unwrap_or(false),
            diarize: self.diarize.unwrap_or(false),
            endpointing_ms,
            utterance_end_ms: self.utterance_end_ms,
            vad_events: self.vad_events.unwrap_or(false),
            title: self.title.map(|t| t.trim().to_owned()),
            wait_for_action_items: self.wait_for_action_items.unwrap_or(false),
            language,
        })
    }
}
