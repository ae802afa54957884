//! The `meeting_intelligence` job, enqueued when a meeting is finalized: the LLM writes the
//! summary and action items; names become users of the tenant and spoken deadlines become dates;
//! the store writes it all with the tasks and notifications in one transaction; connected caption
//! viewers hear about it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::job_runner::{JobError, JobHandler};
use crate::domain::{Job, Meeting, SpeakerIdentity, TaskStatus};
use crate::inference::llm::{LlmError, LlmWorker};
use crate::intelligence::{
    AssigneeResolver, Extraction, MeetingExtractor, MeetingInput, TranscriptLine, name_speakers, resolve_items,
};
use crate::session::{CaptionEvent, CaptionHub, ServerMessage};
use crate::store::{ErrorTable, IntelligenceReport, MeetingIntelligence, NewTask, Store};

pub struct MeetingIntelligenceJob {
    pub store: Arc<dyn Store>,
    pub llm: Arc<LlmWorker<MeetingExtractor>>,
    /// Live viewers of the meeting's session get an `ActionItemsReady` event.
    pub captions: Option<Arc<CaptionHub>>,
}

#[async_trait]
impl JobHandler for MeetingIntelligenceJob {
    fn kind(&self) -> &'static str {
        Job::MEETING_INTELLIGENCE
    }

    fn max_attempts(&self) -> i32 {
        3
    }

    fn error_table(&self) -> ErrorTable {
        ErrorTable::Ai
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let tenant = job.tenant_id;
        let meeting_id =
            job.meeting_id.ok_or_else(|| JobError::permanent("meeting_intelligence job without a meeting"))?;
        let meeting = match self.store.get_meeting(tenant, meeting_id).await {
            Ok(m) => m,
            Err(crate::store::StoreError::NotFound) => return Err(JobError::permanent("the meeting was deleted")),
            Err(e) => return Err(e.into()),
        };
        let users = self.store.list_users(tenant, false).await?;
        let people = AssigneeResolver::from_users(&users);
        let mut input = meeting_input(&meeting, users.iter().map(|u| u.name.clone()).collect());
        if input.lines.is_empty() {
            return Err(JobError::permanent("the meeting has no transcript"));
        }
        // The model reads who spoke by name where their enrolled voice, a person in the app or the
        // conversation tells, so it can write owners. The first two stand: the conversation names
        // only the others.
        let standing: HashMap<String, SpeakerIdentity> = meeting
            .speaker_labels
            .iter()
            .flat_map(|j| j.0.iter())
            .filter_map(|l| Some((l.label.clone(), l.identity.clone().filter(SpeakerIdentity::stands)?)))
            .collect();
        let identities = name_speakers(&mut input.lines, &people, standing);
        let started = std::time::Instant::now();
        // Greedy decoding is deterministic: only a busy or stopped worker is worth a retry.
        let lines = input.lines.clone();
        let (extraction, stats) = self.llm.extract_meeting(meeting_id, input).await.map_err(|e| match e {
            LlmError::Overloaded | LlmError::Stopped => JobError::retryable(format!("LLM: {e}")),
            other => JobError::permanent(format!("LLM: {other}")),
        })?;
        tracing::info!(
            meeting = %meeting_id,
            items = extraction.action_items.len(),
            drafted_chunks = stats.reused_chunks,
            chunks = stats.chunks,
            seconds = started.elapsed().as_secs_f64(),
            "meeting intelligence extracted"
        );
        let mut result = resolve(&extraction, &lines, &people, meeting.created_at.date_naive());
        result.speaker_labels = meeting.speaker_labels.as_ref().map(|labels| {
            let mut labels = labels.0.clone();
            for label in &mut labels {
                label.identity = identities.get(&label.label).cloned();
            }
            labels
        });
        let report = self.store.complete_meeting_intelligence(job, result).await?;
        if let Some(captions) = &self.captions {
            captions.announce(meeting_id, ready_event(&report));
        }
        Ok(())
    }
}

/// The transcript as the LLM reads it: one line per stored segment, speakers by their labels.
pub fn meeting_input(meeting: &Meeting, attendees: Vec<String>) -> MeetingInput {
    let labels: HashMap<i32, &str> =
        meeting.speaker_labels.iter().flat_map(|j| j.0.iter()).map(|l| (l.speaker, l.label.as_str())).collect();
    let mut lines: Vec<TranscriptLine> = meeting
        .transcript_segments
        .iter()
        .flat_map(|j| j.0.iter())
        .filter_map(|s| {
            let text = s.text.trim();
            (!text.is_empty()).then(|| TranscriptLine {
                seq: s.seq.into(),
                speaker: s.speaker.map(|n| labels.get(&n).map_or(format!("Speaker {}", n + 1), |l| l.to_string())),
                start: s.start,
                end: s.end,
                text: text.to_owned(),
            })
        })
        .collect();
    // A meeting registered with a transcript but no segments: one line per text line.
    if lines.is_empty() {
        lines = meeting
            .transcript_text
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, text)| TranscriptLine {
                seq: i as i64,
                speaker: None,
                start: 0.0,
                end: 0.0,
                text: text.to_owned(),
            })
            .collect();
    }
    MeetingInput {
        title: meeting.title.clone(),
        date: meeting.created_at.date_naive(),
        lines,
        attendees,
        language: meeting.language.clone(),
    }
}

/// Names to users, spoken deadlines to dates ([`resolve_items`]); the `ai_action_items` JSON
/// keeps what was said next to what it was resolved to, and each item becomes a task.
pub fn resolve(
    extraction: &Extraction,
    lines: &[TranscriptLine],
    people: &AssigneeResolver,
    meeting_date: NaiveDate,
) -> MeetingIntelligence {
    let action_items = resolve_items(extraction, lines, people, meeting_date);
    let tasks = action_items
        .iter()
        .map(|item| NewTask {
            meeting_id: None,
            title: item.title.clone(),
            description: Some(item.description.clone()).filter(|d| !d.is_empty()),
            status: TaskStatus::Todo,
            assignee_id: item.assignee_id,
            due_date: item.due_date.map(due_instant),
            is_ai_generated: true,
        })
        .collect();
    MeetingIntelligence {
        summary: extraction.summary.trim().to_owned(),
        action_items,
        decisions: extraction.decisions.clone(),
        open_questions: extraction.open_questions.clone(),
        tasks,
        speaker_labels: None,
    }
}

/// Due dates are calendar dates but the column is a timestamp: noon UTC is the same calendar day
/// from UTC−11 to UTC+11, so the date reads right wherever the tenant is.
fn due_instant(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("valid time")).and_utc()
}

/// What live viewers get once the minutes are stored.
fn ready_event(report: &IntelligenceReport) -> Arc<CaptionEvent> {
    CaptionEvent::new(ServerMessage::ActionItemsReady {
        meeting_id: report.meeting.id,
        summary: report.meeting.ai_summary.clone(),
        action_items: report.meeting.ai_action_items.as_ref().map(|j| j.0.clone()),
        decisions: report.meeting.ai_decisions.as_ref().map(|j| j.0.clone()).unwrap_or_default(),
        open_questions: report.meeting.ai_open_questions.as_ref().map(|j| j.0.clone()).unwrap_or_default(),
        tasks: report.created.iter().map(|t| t.id).collect(),
    })
}
