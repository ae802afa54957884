//! The Whisper models served to live sessions at once, and how a session's model is chosen.
//!
//! Each served model has its own ASR engine (workers, queue). A session names one with `model`
//! (`base` or `whisper-base`; Deepgram's own names such as `nova-3` are ignored), else its
//! language picks: English goes to the first English-only model served (the fastest for
//! English), any other language to the first model that knows it, `multi` (detect) to the first
//! multilingual model; a session that names neither gets its tenant's `default_model` and
//! `default_language`, and with none of these the first model of `--asr-models`. A model name
//! no longer served is ignored like Deepgram's.

use uuid::Uuid;

use crate::inference::asr::AsrHandle;

pub struct ServedModel {
    /// As configured and fetched: `tiny.en`, `base`.
    pub name: String,
    pub asr: AsrHandle,
    /// Stable per model, reported in `Results.metadata.model_uuid`.
    pub uuid: Uuid,
}

impl ServedModel {
    pub fn new(name: String, asr: AsrHandle) -> Self {
        let uuid = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("ddalkkak/whisper-{name}").as_bytes());
        Self { name, asr, uuid }
    }

    /// Language codes a session may ask for: `en` alone for an English-only model.
    pub fn languages(&self) -> Vec<String> {
        match self.asr.languages() {
            [] => vec!["en".to_owned()],
            known => known.to_vec(),
        }
    }

    pub fn english_only(&self) -> bool {
        self.asr.languages().is_empty()
    }
}

/// The index of the served model for a session that asked for `model` and `language` (a base
/// code such as `ko`, or `multi`; `None`: not given). Errors name the parameter at fault.
pub fn choose(
    served: &[ServedModel],
    model: Option<&str>,
    language: Option<&str>,
) -> Result<usize, (&'static str, String)> {
    let known: Vec<(&str, &[String])> = served.iter().map(|s| (s.name.as_str(), s.asr.languages())).collect();
    choose_index(&known, model, language)
}

/// [`choose`] over (name, languages) pairs; an empty language list is an English-only model.
fn choose_index(
    served: &[(&str, &[String])],
    model: Option<&str>,
    language: Option<&str>,
) -> Result<usize, (&'static str, String)> {
    let named = model.map(|m| m.strip_prefix("whisper-").unwrap_or(m));
    if let Some(i) = named.and_then(|m| served.iter().position(|(name, _)| *name == m)) {
        return Ok(i);
    }
    let Some(language) = language else {
        return if served.is_empty() { Err(("model", "no model is served".to_owned())) } else { Ok(0) };
    };
    let english_only = |(_, languages): &(&str, &[String])| languages.is_empty();
    let knows = |(_, languages): &(&str, &[String])| {
        !languages.is_empty() && (language == "multi" || languages.iter().any(|l| l == language))
    };
    let english = served.iter().position(english_only).filter(|_| language == "en");
    english.or_else(|| served.iter().position(knows)).ok_or_else(|| {
        let names: Vec<&str> = served.iter().map(|(name, _)| *name).collect();
        ("language", format!("no served model ({}) knows {language:?}", names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_by_name_else_by_language() {
        let multilingual: Vec<String> = ["en", "ko", "ja"].map(String::from).to_vec();
        let served: [(&str, &[String]); 2] = [("tiny.en", &[]), ("base", &multilingual)];
        assert_eq!(choose_index(&served, None, None), Ok(0), "no language: the first model");
        assert_eq!(choose_index(&served, None, Some("en")), Ok(0), "English: the English-only model");
        assert_eq!(choose_index(&served, None, Some("ko")), Ok(1));
        assert_eq!(choose_index(&served, None, Some("multi")), Ok(1), "detection needs a multilingual model");
        assert_eq!(choose_index(&served, Some("base"), Some("en")), Ok(1));
        assert_eq!(choose_index(&served, Some("whisper-base"), None), Ok(1));
        assert_eq!(choose_index(&served, Some("nova-3"), Some("ko")), Ok(1), "Deepgram's names are ignored");
        assert!(matches!(choose_index(&served, None, Some("xx")), Err(("language", _))));
        let english: [(&str, &[String]); 1] = [("tiny.en", &[])];
        assert!(choose_index(&english, None, Some("ko")).is_err());
        assert_eq!(choose_index(&served[1..], None, Some("en")), Ok(0), "a multilingual model knows English");
    }
}
