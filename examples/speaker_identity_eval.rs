//! Speaker identification on the action-item evaluation sets: the speakers' names are replaced by
//! voice labels, and the conversation alone must name them again (`intelligence::identify_speakers`).
//!
//! ```text
//! cargo run --example speaker_identity_eval [-- tests/fixtures/action_items_heldout ...]
//! ```
//! With no argument it scores the development set (`tests/fixtures/action_items`, which the rules
//! were written against) and the held-out set (`tests/fixtures/action_items_heldout`, never tuned on).

use std::path::PathBuf;

use ddalkkak_eval::action_items::EvalMeeting;
use ddalkkak_eval::speaker_identity::IdentityScore;

fn main() -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        dirs = vec![fixtures.join("action_items"), fixtures.join("action_items_heldout")];
    }
    println!("| set | meeting | speakers | named right | named wrong | unnamed |");
    println!("|---|---|---|---|---|---|");
    for dir in dirs {
        let set = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut total = IdentityScore::default();
        for meeting in EvalMeeting::load_dir(&dir)? {
            let s = IdentityScore::score(&meeting);
            let unnamed = s.speakers - s.correct - s.wrong;
            println!("| {set} | {} | {} | {} | {} | {unnamed} |", meeting.name, s.speakers, s.correct, s.wrong);
            total.add(s);
        }
        println!(
            "| {set} | **all** | {} | {} | {} | {} | (precision {:.2}, recall {:.2})",
            total.speakers,
            total.correct,
            total.wrong,
            total.speakers - total.correct - total.wrong,
            total.precision(),
            total.recall()
        );
    }
    Ok(())
}
