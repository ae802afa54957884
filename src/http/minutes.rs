//! `GET /v1/meetings/{id}/minutes`: a meeting's structured minutes (summary, decisions, open
//! questions, action items, and the transcript lines each cites) with where their writing
//! stands, so a page can say "being written" or "nothing found" instead of guessing from empty
//! fields; `?format=md` downloads them as a Markdown document in the meeting's language.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, Principal};
use crate::domain::{ActionItem, Job, JobStatus, Meeting, MinutesNote};
use crate::subtitles::speaker_name;

/// Where a meeting's minutes stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MinutesStatus {
    /// No minutes will be written: the meeting has no transcript (yet).
    None,
    /// Waiting for a summariser (a server running an LLM takes it).
    Queued,
    /// Being written now.
    Running,
    /// Written; `summary` and `action_items` are final (either may be empty: nothing was found).
    Ready,
    /// The summariser gave up on this meeting.
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Minutes {
    pub meeting_id: Uuid,
    pub status: MinutesStatus,
    /// Tries so far (a failed try is retried with backoff until the job's limit).
    pub attempts: i32,
    pub summary: Option<String>,
    pub action_items: Vec<ActionItem>,
    /// What the meeting settled.
    pub decisions: Vec<MinutesNote>,
    /// What it raised and left open.
    pub open_questions: Vec<MinutesNote>,
    /// The transcript lines the items, decisions and questions cite (`source_segments`), in
    /// order: the evidence, with who said it and when.
    pub quotes: Vec<Quote>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

/// One transcript line the minutes cite.
#[derive(Debug, Serialize, ToSchema)]
pub struct Quote {
    pub seq: i64,
    /// The speaker's name where known, else their label ("Speaker 2").
    pub speaker: Option<String>,
    /// Seconds from the start of the meeting.
    pub start: f64,
    pub end: f64,
    pub text: String,
}

impl Minutes {
    fn of(meeting: Meeting, job: Option<&Job>) -> Minutes {
        let status = match job.map(|j| j.status) {
            _ if meeting.ai_summary.is_some() => MinutesStatus::Ready,
            None => MinutesStatus::None,
            Some(JobStatus::Queued) => MinutesStatus::Queued,
            Some(JobStatus::Running) => MinutesStatus::Running,
            Some(JobStatus::Succeeded) => MinutesStatus::Ready,
            Some(JobStatus::Failed) => MinutesStatus::Failed,
        };
        let action_items = meeting.ai_action_items.as_ref().map(|j| j.0.clone()).unwrap_or_default();
        let decisions = meeting.ai_decisions.as_ref().map(|j| j.0.clone()).unwrap_or_default();
        let open_questions = meeting.ai_open_questions.as_ref().map(|j| j.0.clone()).unwrap_or_default();
        let cited: std::collections::BTreeSet<i64> = action_items
            .iter()
            .flat_map(|i| &i.source_segments)
            .chain(decisions.iter().chain(&open_questions).flat_map(|n| &n.source_segments))
            .copied()
            .collect();
        let labels = meeting.speaker_labels.as_ref().map(|j| j.0.as_slice()).unwrap_or_default();
        let quotes = meeting
            .transcript_segments
            .iter()
            .flat_map(|j| j.0.iter())
            .filter(|s| cited.contains(&i64::from(s.seq)))
            .map(|s| Quote {
                seq: s.seq.into(),
                speaker: s.speaker.map(|n| speaker_name(labels, n).into_owned()),
                start: s.start,
                end: s.end,
                text: s.text.trim().to_owned(),
            })
            .collect();
        Minutes {
            meeting_id: meeting.id,
            status,
            attempts: job.map_or(0, |j| j.attempts),
            summary: meeting.ai_summary,
            action_items,
            decisions,
            open_questions,
            quotes,
            updated_at: job.map_or(meeting.updated_at, |j| j.updated_at.max(meeting.updated_at)),
        }
    }

    /// The minutes as a Markdown document, headings in Korean for a Korean meeting: each entry
    /// followed by the lines it cites, quoted with their time and speaker.
    pub fn markdown(&self, title: &str, date: DateTime<Utc>, korean: bool) -> String {
        let words = if korean { &KOREAN } else { &ENGLISH };
        let mut md = format!("# {}\n\n{}\n", escape(title), date.format("%Y-%m-%d"));
        md += &format!("\n## {}\n\n", words.summary);
        md += &match (&self.summary, self.status) {
            (Some(s), _) if !s.trim().is_empty() => format!("{}\n", escape(s)),
            (_, MinutesStatus::Ready) => format!("_{}_\n", words.nothing),
            _ => format!("_{}_\n", words.not_yet),
        };
        let sections = [(words.decisions, &self.decisions), (words.open_questions, &self.open_questions)];
        for (heading, notes) in sections {
            md += &format!("\n## {heading}\n\n");
            if notes.is_empty() {
                md += &format!("_{}_\n", words.none);
            }
            for note in notes {
                md += &format!("- {}\n", escape(&note.text));
                md += &self.quoted(&note.source_segments);
            }
        }
        md += &format!("\n## {}\n\n", words.action_items);
        if self.action_items.is_empty() {
            md += &format!("_{}_\n", words.none);
        }
        for item in &self.action_items {
            let owner = item.assignee.as_deref().map_or_else(|| words.unassigned.to_owned(), escape);
            md += &format!("- [ ] **{}** · {}: {owner}", escape(&item.title), words.owner);
            match (item.due_date, &item.due_date_text) {
                (Some(date), Some(said)) => md += &format!(" · {}: {date} ({})", words.due, escape(said)),
                (Some(date), None) => md += &format!(" · {}: {date}", words.due),
                (None, Some(said)) => md += &format!(" · {}: {}", words.due, escape(said)),
                (None, None) => {}
            }
            md += "\n";
            md += &self.quoted(&item.source_segments);
        }
        md
    }

    /// `  > [mm:ss] Speaker: text` for each cited line.
    fn quoted(&self, seqs: &[i64]) -> String {
        seqs.iter()
            .filter_map(|seq| self.quotes.iter().find(|q| q.seq == *seq))
            .map(|q| {
                let who = q.speaker.as_deref().map(|s| format!("{}: ", escape(s))).unwrap_or_default();
                format!("  > [{}] {who}{}\n", clock(q.start), escape(&q.text))
            })
            .collect()
    }
}

struct Headings {
    summary: &'static str,
    decisions: &'static str,
    open_questions: &'static str,
    action_items: &'static str,
    owner: &'static str,
    unassigned: &'static str,
    due: &'static str,
    none: &'static str,
    nothing: &'static str,
    not_yet: &'static str,
}

const ENGLISH: Headings = Headings {
    summary: "Summary",
    decisions: "Decisions",
    open_questions: "Open questions",
    action_items: "Action items",
    owner: "owner",
    unassigned: "unassigned",
    due: "due",
    none: "None.",
    nothing: "The summariser found nothing to say.",
    not_yet: "Not written yet.",
};

const KOREAN: Headings = Headings {
    summary: "요약",
    decisions: "결정 사항",
    open_questions: "미결 사항",
    action_items: "할 일",
    owner: "담당",
    unassigned: "담당자 없음",
    due: "기한",
    none: "없음.",
    nothing: "요약할 내용이 없었습니다.",
    not_yet: "아직 작성되지 않았습니다.",
};

/// `m:ss`, or `h:mm:ss` past the hour.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// Text as Markdown shows it literally, on one line.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MinutesQuery {
    /// `json` (default) or `md` (a Markdown download).
    pub format: Option<MinutesFormat>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MinutesFormat {
    #[default]
    Json,
    Md,
}

#[utoipa::path(get, path = "/v1/meetings/{id}/minutes", tag = "meetings", params(("id" = Uuid, Path), MinutesQuery),
    responses((status = 200, body = Minutes, description = "JSON, or Markdown with `format=md`"),
        (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<MinutesQuery>,
) -> ApiResult<Response> {
    let meeting = state.store.get_meeting(who.tenant_id, id).await?;
    let jobs = state.store.list_jobs(who.tenant_id, id).await?;
    let job = jobs.iter().find(|j| j.kind == Job::MEETING_INTELLIGENCE);
    let (title, created_at) = (meeting.title.clone(), meeting.created_at);
    let korean = crate::jobs::meeting_input(&meeting, Vec::new()).minutes_language() == Some("ko");
    let minutes = Minutes::of(meeting, job);
    if let MinutesFormat::Json = q.format.unwrap_or_default() {
        return Ok(Json(minutes).into_response());
    }
    let disposition = format!("attachment; filename=\"meeting-{id}-minutes.md\"");
    let body = minutes.markdown(&title, created_at, korean);
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(korean: bool) -> Minutes {
        let note = |text: &str, seq: i64| MinutesNote { text: text.into(), source_segments: vec![seq] };
        let (decision, question, task, owner, said) = if korean {
            ("파란 로고로 간다", "인쇄 예산", "시안 공유", "김민지", "금요일까지")
        } else {
            ("Go with the *blue* logo", "The printing budget", "Share the drafts", "Mina Kim", "by Friday")
        };
        Minutes {
            meeting_id: Uuid::nil(),
            status: MinutesStatus::Ready,
            attempts: 1,
            summary: Some("Logo and launch.".into()),
            action_items: vec![ActionItem {
                title: task.into(),
                description: String::new(),
                assignee: Some(owner.into()),
                assignee_id: None,
                due_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 11),
                due_date_text: Some(said.into()),
                source_segments: vec![7],
            }],
            decisions: vec![note(decision, 2)],
            open_questions: vec![note(question, 9)],
            quotes: vec![
                Quote {
                    seq: 2,
                    speaker: Some("Ana".into()),
                    start: 65.4,
                    end: 70.0,
                    text: "Let's go with blue.".into(),
                },
                Quote { seq: 7, speaker: None, start: 3725.0, end: 3730.0, text: "I'll share them.".into() },
            ],
            updated_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    #[test]
    fn markdown_minutes_quote_their_evidence_in_the_meetings_language() {
        let date = DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z").unwrap().to_utc();
        let md = minutes(false).markdown("Launch # sync", date, false);
        assert!(md.starts_with("# Launch \\# sync\n\n2026-12-07\n"), "{md}");
        assert!(
            md.contains("## Decisions\n\n- Go with the \\*blue\\* logo\n  > [1:05] Ana: Let's go with blue.\n"),
            "{md}"
        );
        // A question whose line is not in the transcript has no quote.
        assert!(md.contains("## Open questions\n\n- The printing budget\n\n"), "{md}");
        assert!(
            md.contains("- [ ] **Share the drafts** · owner: Mina Kim · due: 2026-12-11 (by Friday)\n  > [1:02:05] I'll share them.\n"),
            "{md}"
        );
        let ko = minutes(true).markdown("주간 회의", date, true);
        for heading in [
            "## 요약",
            "## 결정 사항\n\n- 파란 로고로 간다",
            "## 미결 사항",
            "## 할 일",
            "담당: 김민지 · 기한: 2026-12-11 (금요일까지)",
        ] {
            assert!(ko.contains(heading), "{heading}: {ko}");
        }
        // Nothing found is said, not left blank.
        let empty = Minutes { action_items: vec![], decisions: vec![], summary: None, ..minutes(false) };
        let md = empty.markdown("x", date, false);
        assert!(md.contains("## Summary\n\n_The summariser found nothing to say._\n"), "{md}");
        assert!(md.contains("## Action items\n\n_None._\n"), "{md}");
    }
}
