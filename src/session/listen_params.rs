//! Query parameters of `/v1/listen`, Deepgram's names and meanings. Parameters Deepgram has and
//! we do not (`smart_format`, `tag`, …) are accepted and ignored, so SDK defaults never fail.

use serde::Deserialize;

use super::vocabulary::Vocabulary;
use crate::audio::Encoding;
use crate::inference::asr::LanguageChoice;

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
    /// Our extension: keep the session's audio as its meeting's recording (Ogg Opus).
    pub record: Option<bool>,
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
    /// Keep the session's audio as the meeting's recording.
    pub record: bool,
    /// The language to decode in (codes the model knows): fixed, or detected on the first speech
    /// (among all languages or the listed ones; multilingual models); English-only models
    /// always get `Detect` (they decode English).
    pub language: LanguageChoice,
    /// Words to expect: the query's `keyterm`s and `keywords`, then the tenant's glossary
    /// (both added by the caller: `serde_urlencoded` takes one value per name).
    pub vocabulary: Vocabulary,
}

/// Shortest accepted endpointing: below this every breath ends an utterance.
pub const MIN_ENDPOINTING_MS: u32 = 100;
/// Pauses between turns in conversation are often shorter than half a second.
pub const DEFAULT_ENDPOINTING_MS: u32 = 300;

impl ListenParams {
    /// The languages asked for, as Whisper knows them: Deepgram's codes carry regions ("en-US",
    /// "ko-KR"), Whisper knows the base language. `ko,en` lists several (detected among them,
    /// our extension); `multi` asks for detection among all. Empty when not given.
    fn language_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = Vec::new();
        for code in self.language.as_deref().unwrap_or_default().split(',').map(str::trim) {
            let base = code.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
            if !codes.contains(&base) {
                codes.push(base);
            }
        }
        // `language=` alone stays one (empty, refused) code; a trailing comma adds nothing.
        if codes.len() > 1 {
            codes.retain(|c| !c.is_empty());
        }
        codes
    }

    /// What picks the model ([`super::choose_model`]): the base code of one language, `multi`
    /// for detection (`multi` or a list of languages), `None` when not given.
    pub fn requested_language(&self) -> Option<String> {
        self.language.as_ref()?;
        match self.language_codes().as_slice() {
            [one] => Some(one.clone()),
            _ => Some("multi".to_owned()),
        }
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
        let language = language_choice(self.language.is_some().then(|| self.language_codes()), languages)?;
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
            record: self.record.unwrap_or(false),
            language,
            vocabulary: Vocabulary::default(),
        })
    }
}

/// The session's language from the codes asked for (`None`: not given), against the served
/// model's `languages` (empty: English-only).
fn language_choice(codes: Option<Vec<String>>, languages: &[String]) -> Result<LanguageChoice, (&'static str, String)> {
    let Some(codes) = codes else { return Ok(LanguageChoice::Detect) };
    if codes.len() > 1 && codes.iter().any(|c| c == "multi") {
        return Err(("language", "multi detects among all languages; list languages without it".into()));
    }
    if languages.is_empty() {
        return match codes.as_slice() {
            [en] if en == "en" => Ok(LanguageChoice::Detect),
            _ => Err(("language", format!("the served model is English-only; got {}", codes.join(",")))),
        };
    }
    if let Some(unknown) = codes.iter().find(|c| *c != "multi" && !languages.contains(c)) {
        return Err(("language", format!("the served model does not know {unknown:?}")));
    }
    Ok(match codes.as_slice() {
        [multi] if multi == "multi" => LanguageChoice::Detect,
        [one] => LanguageChoice::Fixed(one.clone()),
        many => LanguageChoice::DetectAmong(many.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(language: &str) -> ListenParams {
        ListenParams { language: Some(language.to_owned()), ..ListenParams::default() }
    }

    #[test]
    fn language_lists_detect_among_the_listed_languages() {
        let multilingual: Vec<String> = ["en", "ja", "ko"].map(String::from).to_vec();
        let choice = |language: &str| params(language).validate(&multilingual).map(|o| o.language);
        assert_eq!(choice("ko-KR"), Ok(LanguageChoice::Fixed("ko".into())));
        assert_eq!(choice("multi"), Ok(LanguageChoice::Detect));
        let ko_en = LanguageChoice::DetectAmong(["ko".to_owned(), "en".to_owned()].into());
        assert_eq!(choice("ko,en"), Ok(ko_en.clone()));
        assert_eq!(choice("ko-KR, en-US,ko,"), Ok(ko_en), "regions, spaces, repeats and a trailing comma");
        assert_eq!(choice("ko,ko-KR"), Ok(LanguageChoice::Fixed("ko".into())), "one language after all");
        assert!(matches!(choice("ko,xx"), Err(("language", m)) if m.contains("\"xx\"")));
        assert!(matches!(choice("ko,multi"), Err(("language", _))));
        assert!(matches!(choice(""), Err(("language", _))));
        assert_eq!(ListenParams::default().validate(&multilingual).unwrap().language, LanguageChoice::Detect);
        // A list needs a model that detects; English alone is what an English-only model does.
        assert_eq!(params("en,ko").requested_language().as_deref(), Some("multi"));
        assert_eq!(params("ko-KR").requested_language().as_deref(), Some("ko"));
        assert_eq!(ListenParams::default().requested_language(), None);
        assert_eq!(params("en-US").validate(&[]).unwrap().language, LanguageChoice::Detect);
        assert!(matches!(params("en,ko").validate(&[]), Err(("language", _))));
    }
}
