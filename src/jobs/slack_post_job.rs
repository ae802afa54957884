//! The `slack_post` job: posts a meeting's summary and action items to the tenant's Slack (the
//! integration's channel, else the host's DM) and stores the message's `ts` on the meeting.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::job_runner::{JobError, JobHandler};
use super::slack_client::{SlackClient, SlackError, clip, escape_mrkdwn};
use crate::auth::TokenCipher;
use crate::domain::{Job, Meeting, ServiceType, User, Wording};
use crate::store::{ErrorTable, Store};

pub struct SlackPostJob {
    pub store: std::sync::Arc<dyn Store>,
    pub cipher: TokenCipher,
    pub slack: SlackClient,
}

#[async_trait]
impl JobHandler for SlackPostJob {
    fn kind(&self) -> &'static str {
        Job::SLACK_POST
    }

    fn max_attempts(&self) -> i32 {
        6
    }

    fn error_table(&self) -> ErrorTable {
        ErrorTable::Integration
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let tenant = job.tenant_id;
        let meeting_id = job.meeting_id.ok_or_else(|| JobError::permanent("slack_post job without a meeting"))?;
        let integration = self
            .store
            .list_integrations(tenant)
            .await?
            .into_iter()
            .find(|i| i.service_type == ServiceType::Slack)
            .ok_or_else(|| JobError::permanent("the Slack integration was removed"))?;
        let subject = Some(integration.id);
        let permanent = |message: String| JobError::Permanent { message, subject };
        // D-104: a disconnected integration stops posting.
        if !integration.is_active {
            return Err(permanent("the Slack integration is inactive".into()));
        }
        let token = integration
            .access_token
            .as_deref()
            .ok_or_else(|| permanent("the Slack integration has no token".into()))?;
        let token =
            self.cipher.decrypt(token).map_err(|e| permanent(format!("the Slack token cannot be decrypted: {e}")))?;
        let meeting = self.store.get_meeting(tenant, meeting_id).await?;
        let users = self.store.list_users(tenant, false).await?;
        let channel = match &integration.channel {
            Some(c) => c.clone(),
            None => users
                .iter()
                .find(|u| u.id == meeting.host_id)
                .and_then(|u| u.slack_user_id.clone())
                .ok_or_else(|| permanent("no Slack channel set and the host has no slack_user_id".into()))?,
        };
        let ts = self.slack.post_message(&token, &channel, slack_message(&meeting, &users)).await.map_err(|e| {
            let message = e.to_string();
            match e {
                SlackError::RateLimited(after) => JobError::Retryable { message, after: Some(after), subject },
                e if e.is_retryable() => JobError::Retryable { message, after: None, subject },
                _ => JobError::Permanent { message, subject },
            }
        })?;
        self.store.complete_slack_post(job, &ts).await?;
        tracing::info!(meeting = %meeting_id, ts, "posted the meeting summary to Slack");
        Ok(())
    }
}

/// `text` (the notification fallback) and Block Kit blocks: title, summary, action items with
/// the assignee mentioned when they have a Slack id; the labels in the meeting's language.
pub fn slack_message(meeting: &Meeting, users: &[User]) -> Value {
    let korean = Wording::of(meeting.language.as_deref()) == Wording::Korean;
    let label = |en: &'static str, ko: &'static str| if korean { ko } else { en };
    let slack_ids: HashMap<Uuid, &str> =
        users.iter().filter_map(|u| u.slack_user_id.as_deref().map(|s| (u.id, s))).collect();
    let lines: Vec<String> = meeting
        .ai_action_items
        .iter()
        .flat_map(|j| j.0.iter())
        .map(|item| {
            let title = escape_mrkdwn(&item.title);
            let who = match item.assignee_id.and_then(|id| slack_ids.get(&id)) {
                Some(slack) => format!(" — <@{slack}>"),
                None => item.assignee.as_deref().map(|n| format!(" — {}", escape_mrkdwn(n))).unwrap_or_default(),
            };
            let due = item.due_date.map(|d| format!(" ({} {d})", label("due", "마감"))).unwrap_or_default();
            format!("• {title}{who}{due}")
        })
        .collect();
    // Slack refuses an empty section.
    let summary =
        meeting.ai_summary.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or(label("(no summary)", "(요약 없음)"));
    let items_text = if lines.is_empty() {
        label("_No action items._", "_할 일이 없습니다._").to_owned()
    } else {
        lines.join("\n")
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&meeting.title, 150)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&escape_mrkdwn(summary), 3000)}}),
    ];
    let decisions: Vec<String> =
        meeting.ai_decisions.iter().flat_map(|j| j.0.iter()).map(|d| format!("• {}", escape_mrkdwn(&d.text))).collect();
    if !decisions.is_empty() {
        let text = format!("*{}*\n{}", label("Decisions", "결정 사항"), decisions.join("\n"));
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, 3000)}}));
    }
    let items = format!("*{}*\n{items_text}", label("Action items", "할 일"));
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&items, 3000)}}));
    json!({
        "text": clip(&format!("{}: {}", label("Meeting summary", "회의 요약"), meeting.title), 3000),
        "unfurl_links": false,
        "blocks": blocks,
    })
}
