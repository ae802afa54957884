//! [`resolve_items`]: extracted items as the meeting's action items, names as users of the tenant
//! and spoken deadlines as dates. Used for the final minutes and the provisional items of a live
//! meeting alike.

use chrono::NaiveDate;

use super::assignee_resolver::AssigneeResolver;
use super::due_date_parser::DueDateParser;
use super::extraction::{Extraction, TranscriptLine};
use crate::domain::ActionItem;

/// Task titles are limited to 200 characters by the API; descriptions are kept readable.
const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;

/// Each item with a title, its spoken owner resolved to a user and its due date read from its
/// cited lines (`lines`) against the meeting's date: the model's phrase when the lines say it,
/// never a date the model wrote that nobody said. A voice nobody identified ("Speaker 3") names
/// no owner: the item stays unassigned.
pub fn resolve_items(
    extraction: &Extraction,
    lines: &[TranscriptLine],
    people: &AssigneeResolver,
    meeting_date: NaiveDate,
) -> Vec<ActionItem> {
    let dates = DueDateParser::new(meeting_date);
    let mut items = Vec::new();
    for item in &extraction.action_items {
        let title = clip(item.title.trim(), TITLE_MAX);
        if title.is_empty() {
            continue;
        }
        let spoken = item.assignee.as_deref().filter(|name| !is_voice_label(name));
        let quote: Vec<&str> = item
            .source_segments
            .iter()
            .filter_map(|seq| lines.iter().find(|l| l.seq == *seq))
            .map(|l| l.text.as_str())
            .collect();
        let due = dates.from_quote(item.due_date.as_deref(), &quote.join("\n"));
        items.push(ActionItem {
            title,
            description: clip(item.description.trim(), DESCRIPTION_MAX),
            assignee: spoken.map(str::to_owned),
            assignee_id: spoken.and_then(|name| people.resolve(name)).map(|p| p.id),
            due_date: due.as_ref().map(|(_, d)| *d),
            due_date_text: due.map(|(spoken, _)| spoken),
            source_segments: item.source_segments.clone(),
        });
    }
    items
}

/// "Speaker 3": how a voice that is nobody yet is named to the model.
fn is_voice_label(name: &str) -> bool {
    name.trim().strip_prefix("Speaker ").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
