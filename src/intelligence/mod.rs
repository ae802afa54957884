//! Meeting intelligence: what a finished meeting's summary and action items are, and how they
//! are extracted, verified, assigned and dated. The model work runs on the generic LLM runtime
//! (`crate::inference::llm`); the job that stores the result is `crate::jobs`'s
//! `MeetingIntelligenceJob`.
//!
//! - `extraction`: the types: a transcript in ([`MeetingInput`]), a summary and
//!   [`ExtractedItem`]s out ([`Extraction`]).
//! - [`MeetingExtractor`]: transcript → extraction, one constrained generation per chunk; it is
//!   the [`LlmHandler`](crate::inference::llm::LlmHandler) an `LlmWorker` serves. Its parts:
//!   [`TaskCues`] (which lines may agree on a task), `extraction_prompt` (instructions, worked
//!   example, line keys, answer schema, chunking), `chunk_answer` (parsing one chunk's answer
//!   into items tied to their lines), `grounding` and `title_words` (an item against what was
//!   said), `line_owners` (who a line makes the owner: the colleague a request calls by name,
//!   else the speaker who promises, else who takes on a request on the next line), [`deduplicate`] (one item per task), [`ItemVerifier`]
//!   (a yes/no second look at each item).
//! - Before the model: [`identify_speakers`] (which tenant user each voice is, from
//!   introductions, answers to an address and thanks), so the model reads names, not "Speaker 2".
//! - After the model: [`AssigneeResolver`] (a spoken name → a user of the tenant) and
//!   [`DueDateParser`] (a spoken deadline → a date).

mod assignee_resolver;
mod chunk_answer;
mod chunk_drafts;
mod deduplication;
mod due_date_parser;
mod extraction;
mod extraction_prompt;
mod grounding;
mod item_resolution;
mod item_verifier;
mod line_owners;
mod meeting_extractor;
mod speaker_identifier;
mod task_cues;
mod title_words;

pub use assignee_resolver::{AssigneeResolver, Person};
pub use deduplication::{deduplicate, similar_titles};
pub use due_date_parser::DueDateParser;
pub use extraction::{ExtractedItem, Extraction, MeetingInput, TranscriptLine};
pub use item_resolution::resolve_items;
pub use item_verifier::ItemVerifier;
pub use meeting_extractor::{ExtractOptions, ExtractProgress, ExtractStats, MeetingExtractor, MinutesRequest};
pub use speaker_identifier::{identify as identify_speakers, name_speakers};
pub use task_cues::TaskCues;

#[cfg(test)]
mod test_items {
    use super::ExtractedItem;

    /// An item as the model's answer gives it, for the tests of what follows the model.
    pub fn item(title: &str, assignee: Option<&str>, segs: &[i64]) -> ExtractedItem {
        ExtractedItem {
            title: title.into(),
            description: format!("{title} soon"),
            assignee: assignee.map(Into::into),
            due_date: None,
            source_segments: segs.to_vec(),
            confidence: 0.9,
        }
    }
}
