//! Text messages a client may send on `/v1/listen` (Deepgram's control messages).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum ControlMessage {
    /// Keeps an idle stream open (no audio for a while).
    KeepAlive,
    /// Ends the current utterance now: its final is sent with `from_finalize: true`.
    Finalize,
    /// Flushes, sends the last finals and `Metadata`, finalizes the meeting and closes.
    CloseStream,
}

impl ControlMessage {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("expected {{\"type\": \"KeepAlive\" | \"Finalize\" | \"CloseStream\"}}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_controls_and_rejects_the_rest() {
        assert_eq!(ControlMessage::parse(r#"{"type":"KeepAlive"}"#), Ok(ControlMessage::KeepAlive));
        assert_eq!(ControlMessage::parse(r#"{"type": "Finalize"}"#), Ok(ControlMessage::Finalize));
        assert_eq!(ControlMessage::parse(r#"{"type":"CloseStream"}"#), Ok(ControlMessage::CloseStream));
        assert!(ControlMessage::parse(r#"{"type":"Explode"}"#).is_err());
        assert!(ControlMessage::parse("not json").is_err());
    }
}
