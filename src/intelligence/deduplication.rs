//! [`deduplicate`]: one item per task, however often the model wrote it (overlapping chunks, a
//! request and its answer, a detail, a recap).

use std::collections::BTreeSet;

use super::assignee_resolver::may_be_same_person;
use super::extraction::ExtractedItem;
use super::extraction_prompt::single_line;
use super::title_words::{normalized_words, topic_words};

fn same_assignee(a: &ExtractedItem, b: &ExtractedItem) -> bool {
    let norm = |s: &Option<String>| s.as_deref().map(|s| single_line(s).to_lowercase());
    match (norm(&a.assignee), norm(&b.assignee)) {
        (Some(x), Some(y)) => x == y || x.split(' ').next() == y.split(' ').next() || may_be_same_person(&x, &y),
        (None, None) => true,
        // One chunk saw who, the other did not: the same task only if they cite the same lines.
        _ => a.source_segments.iter().any(|s| b.source_segments.contains(s)),
    }
}

/// Titles with a word-set Jaccard similarity of at least 0.6, or one containing the other.
pub fn similar_titles(a: &str, b: &str) -> bool {
    let (x, y) = (normalized_words(a), normalized_words(b));
    if x.is_empty() || y.is_empty() {
        return false;
    }
    let common = x.intersection(&y).count();
    let union = x.union(&y).count();
    common == x.len().min(y.len()) || common as f64 / union as f64 >= 0.6
}

/// Whether two items come from lines at most three apart (a request and its answer).
fn near(a: &ExtractedItem, b: &ExtractedItem) -> bool {
    a.source_segments.iter().any(|x| b.source_segments.iter().any(|y| (x - y).abs() <= 3))
}

/// Whether at least half of the shorter title's topic words are in the other.
fn same_topic(a: &str, b: &str) -> bool {
    let (x, y) = (topic_words(a), topic_words(b));
    !x.is_empty() && !y.is_empty() && 2 * x.intersection(&y).count() >= x.len().min(y.len())
}

/// Whether a title only adds a detail to some other task ("Include the screenshots", "Make sure
/// she can do lifestyle shots"): said right after a task, such a line refines it.
fn is_detail(title: &str) -> bool {
    const DETAIL_VERBS: &[&str] = &["include", "make sure", "ensure", "show", "mention"];
    let title = title.trim().to_lowercase();
    DETAIL_VERBS.iter().any(|v| title.strip_prefix(v).is_some_and(|rest| rest.starts_with(' ')))
}

/// Whether a line sums up the meeting ("Let's recap: Minsu the invoices by Monday, …"): its
/// tasks were agreed earlier.
pub(super) fn is_recap(text: &str) -> bool {
    const RECAP: &[&str] = &["recap", "to sum up", "to summarize", "summing up"];
    let text = text.to_lowercase();
    RECAP.iter().any(|r| text.contains(r))
}

/// Merges items that name the same task: similar titles with the same assignee, the same topic
/// on lines close together (asked on one line, accepted or detailed on the next; the later line,
/// the one who accepted, names the assignee), a detail said right after a task, or a task
/// restated on a `recaps` line that shares a topic word with an earlier one (in the last two the
/// earlier task keeps its title, assignee and description). Cited lines are united; otherwise the
/// longer description, the first known due date and the higher confidence are kept. Items come
/// in transcript order.
pub fn deduplicate(items: Vec<ExtractedItem>, recaps: &BTreeSet<i64>) -> Vec<ExtractedItem> {
    let mut out: Vec<ExtractedItem> = Vec::new();
    for item in items {
        let restated = item.source_segments.first().is_some_and(|s| recaps.contains(s));
        let refines = |o: &ExtractedItem| {
            (near(o, &item) && is_detail(&item.title) && !is_detail(&o.title))
                || (restated && !topic_words(&o.title).is_disjoint(&topic_words(&item.title)))
        };
        let same = |o: &&mut ExtractedItem| {
            (similar_titles(&o.title, &item.title) && same_assignee(o, &item))
                || (near(o, &item) && same_topic(&o.title, &item.title))
                || refines(o)
        };
        match out.iter_mut().find(same) {
            Some(existing) => {
                // A detail or a recap adds to the task; the task keeps its own words.
                let folded = refines(existing);
                existing.assignee = match folded || same_assignee(existing, &item) {
                    true => existing.assignee.take().or(item.assignee),
                    false => item.assignee.or(existing.assignee.take()),
                };
                existing.due_date = existing.due_date.take().or(item.due_date);
                existing.confidence = existing.confidence.max(item.confidence);
                if !folded && item.description.len() > existing.description.len() {
                    existing.description = item.description;
                }
                let all: BTreeSet<i64> =
                    existing.source_segments.iter().chain(&item.source_segments).copied().collect();
                existing.source_segments = all.into_iter().collect();
            }
            None => out.push(item),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_items::item;
    use super::*;

    /// Each item's title, assignee and cited lines.
    fn shape(items: &[ExtractedItem]) -> Vec<(&str, Option<&str>, &[i64])> {
        items.iter().map(|i| (i.title.as_str(), i.assignee.as_deref(), i.source_segments.as_slice())).collect()
    }

    #[test]
    fn duplicates_merge_by_title_and_assignee() {
        let items = vec![
            item("Fix the Android login crash", Some("Bob"), &[3]),
            item("Prepare screenshots", Some("Carol"), &[6]),
            item("fix android login crash!", Some("bob"), &[3, 4]),
            item("Fix Android login crash", Some("Alice"), &[9]),
            item("Prepare the app store screenshots", None, &[6, 7]),
            item("Book a room", None, &[]),
            item("Book a room", None, &[]),
            // Asked of the wrong person on one line, taken by Tom on the next.
            item("Grab the screenshots", Some("Arjun"), &[12]),
            item("Grab the screenshots from Priya's file", Some("Tom"), &[13]),
        ];
        let out = deduplicate(items, &BTreeSet::new());
        assert_eq!(
            shape(&out),
            vec![
                ("Fix the Android login crash", Some("Bob"), &[3, 4][..]),
                ("Prepare screenshots", Some("Carol"), &[6, 7][..]),
                ("Fix Android login crash", Some("Alice"), &[9][..]),
                ("Book a room", None, &[][..]),
                ("Grab the screenshots", Some("Tom"), &[12, 13][..]),
            ]
        );
        assert_eq!(out[1].description, "Prepare the app store screenshots soon");
        assert!(!similar_titles("Send the budget", "Review the roadmap"));
    }

    #[test]
    fn a_detail_said_right_after_a_task_is_part_of_it() {
        let items = vec![
            item("Write the release notes", Some("Ana"), &[4]),
            // Asked by the lead; the task stays Ana's.
            item("Include the screenshots", Some("Lead"), &[5]),
            item("Make sure the hotfixes are listed", Some("Ana"), &[7]),
            // Too far from any task: tasks of their own.
            item("Show the demo to the board", Some("Ben"), &[12]),
            item("Include the pricing FAQ", Some("Ben"), &[20]),
        ];
        let out = deduplicate(items, &BTreeSet::new());
        assert_eq!(
            shape(&out),
            vec![
                ("Write the release notes", Some("Ana"), &[4, 5, 7][..]),
                ("Show the demo to the board", Some("Ben"), &[12][..]),
                ("Include the pricing FAQ", Some("Ben"), &[20][..]),
            ]
        );
        // The task keeps its own quote, though the detail's is longer.
        assert_eq!(out[0].description, "Write the release notes soon");
        assert!(is_detail("make sure she can do lifestyle shots") && !is_detail("Showcase the app"));

        // A recap restates: merged into the earlier task it shares a word with, else kept.
        let items = vec![
            item("Change the deploy pipeline to use canary deploys", Some("Omar"), &[10]),
            item("Canary deploys by end of month", Some("Ben"), &[30]),
            item("Book the offsite venue", Some("Ben"), &[30]),
        ];
        let out = deduplicate(items, &BTreeSet::from([30]));
        assert_eq!(
            shape(&out),
            vec![
                ("Change the deploy pipeline to use canary deploys", Some("Omar"), &[10, 30][..]),
                ("Book the offsite venue", Some("Ben"), &[30][..]),
            ]
        );
        assert!(is_recap("OK, let's RECAP.") && !is_recap("Ship the hotfix."));
    }
}
