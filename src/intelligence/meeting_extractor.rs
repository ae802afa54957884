//! [`MeetingExtractor`]: transcript → [`Extraction`] (summary + action items).
//!
//! A transcript that fits the token budget is extracted in one constrained generation. A longer
//! one is cut into chunks at line boundaries that overlap by a few lines (a task discussed
//! across a cut is seen whole by one of them); each chunk is extracted on its own, the chunk
//! summaries are merged by one more short generation, and the action items are deduplicated
//! ([`deduplicate`]).
//!
//! The model is not asked to find tasks: the answer's schema names the lines [`TaskCues`] picked
//! (forced keys), and for each the model writes `null` or `{title, assignee, due_date}` — one
//! decision per line, with its log-odds kept as the item's confidence. Each item cites its line
//! and quotes it as its description, so decoding time goes to what only the model can write
//! (docs/decisions.md, "Action items: the model decides about cue lines").

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::chunk_answer::{self, clean};
use super::chunk_drafts::{ChunkDrafts, DraftChunk, DraftContext, reusable};
use super::deduplication::{deduplicate, is_recap};
use super::extraction::{Extraction, MeetingInput, TranscriptLine};
use super::extraction_prompt::{self, ExtractionPrompt, chunk_lines, chunk_schema, format_line, user_prompt};
use super::grounding::asked_by_assignee;
use super::item_verifier::ItemVerifier;
use super::line_owners::LineOwners;
use super::task_cues::TaskCues;
use super::title_words::topic_words;
use crate::domain::MinutesNote;
use crate::inference::llm::generator::DRAFT_TOKENS;
use crate::inference::llm::{
    CompiledSchema, Generation, GenerationOptions, Generator, LlmError, LlmHandler, LlmWorker, Message, SamplerConfig,
};

#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Most transcript tokens in one prompt; longer transcripts are chunked. Also about what a
    /// live meeting's minutes still read after its end (the rest was drafted while it ran).
    pub chunk_tokens: usize,
    /// Transcript tokens repeated at the start of the next chunk.
    pub overlap_tokens: usize,
    pub summary_chars: u16,
    pub title_chars: u16,
    /// Longest description: the quoted line an item comes from.
    pub description_chars: u16,
    /// Most decisions, and most open questions, one chunk's answer may list (0: none asked).
    pub notes: u8,
    /// Longest decision or open question.
    pub note_chars: u16,
    /// Most tokens one answer may take, forced line keys included (an answer cut here keeps
    /// the lines it finished).
    pub max_new_tokens: usize,
    pub sampler: SamplerConfig,
    /// Added to the model's log-odds of "this line agrees on a task" over `null`.
    pub task_bias: f32,
    /// Items whose [`confidence`](super::ExtractedItem::confidence) is lower are dropped (after
    /// merging duplicates); `None` keeps every item the model wrote.
    pub min_confidence: Option<f32>,
    /// When set, every item that passed the filters above is asked about once more, on its own
    /// ([`ItemVerifier`]), and dropped when the model's log-odds of "yes" fall below this.
    pub min_verified: Option<f32>,
    /// [`GenerationOptions::draft_tokens`].
    pub draft_tokens: usize,
}

impl ExtractOptions {
    /// The defaults with the confidence threshold measured for the model named `name`
    /// (`models/llm-<name>`; README "Action items" has the sweep it was chosen from).
    pub fn for_model(name: &str) -> Self {
        // qwen1.5b: confidence 0.9 was the best F1 on the first half of the main set (session
        // 4); the verifier's 0.9 the best F1 on the main set with it (session 7: P 0.88 R 0.86).
        // qwen0.5b's confidence does not separate its right and wrong items: keep what it
        // writes, and no verifier (it is the fast model, for small boxes).
        let (min_confidence, min_verified) = match name.trim_start_matches("llm-") {
            "qwen1.5b" => (Some(0.9), Some(0.9)),
            _ => (None, None),
        };
        Self { min_confidence, min_verified, ..Self::default() }
    }
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            // Smaller chunks found more of a long meeting's items, and as many of a short one's
            // (docs/benchmarks.md, "Live minutes").
            chunk_tokens: 1000,
            overlap_tokens: 150,
            summary_chars: 300,
            title_chars: 80,
            description_chars: 160,
            notes: 2,
            note_chars: 120,
            max_new_tokens: 4000,
            sampler: SamplerConfig::default(),
            task_bias: 0.0,
            min_confidence: None,
            min_verified: None,
            draft_tokens: DRAFT_TOKENS,
        }
    }
}

/// Where an extraction stands, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractProgress {
    /// 1-based chunk being extracted; `chunk == chunks + 1` while merging summaries and
    /// verifying items.
    pub chunk: usize,
    pub chunks: usize,
    /// Tokens generated so far in this extraction.
    pub tokens: usize,
}

/// Cost of one extraction, summed over its generations.
#[derive(Debug, Clone, Default)]
pub struct ExtractStats {
    pub chunks: usize,
    /// Chunks taken from the meeting's drafts (extracted while it was live), not extracted now.
    pub reused_chunks: usize,
    /// Prompt tokens prefilled (the cached prefix not counted).
    pub prompt_tokens: usize,
    /// Prompt tokens taken from the cached instructions and example.
    pub cached_prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
    pub decode_calls: usize,
    pub constraint_time: Duration,
    pub masked_steps: usize,
    pub mask_time: Duration,
    /// Tokens drafted by prompt lookup, and those the model kept.
    pub drafted: usize,
    pub accepted_drafts: usize,
    pub total_time: Duration,
}

pub struct MeetingExtractor {
    pub generator: Generator,
    pub options: ExtractOptions,
    prompt: ExtractionPrompt,
    /// The promise cues alone: a question with none of them is not its asker's task.
    promises: TaskCues,
    merge_schema: Arc<CompiledSchema>,
    /// Present when `options.min_verified` is set.
    verifier: Option<ItemVerifier>,
    /// Chunks of live meetings extracted ahead of their end.
    drafts: ChunkDrafts,
}

impl MeetingExtractor {
    /// Builds the worked example and prefills it with the instructions once.
    pub fn new(mut generator: Generator, options: ExtractOptions) -> Result<Self, LlmError> {
        let merge_schema =
            CompiledSchema::compile(&extraction_prompt::merge_schema(&options)).map_err(LlmError::Config)?;
        let prompt = ExtractionPrompt::new(&generator, &options);
        // The English preamble now; the Korean one when the first Korean meeting comes.
        generator.cache_prefix(&prompt.english)?;
        let verifier = match options.min_verified {
            Some(_) => Some(ItemVerifier::new(&mut generator)?),
            None => None,
        };
        Ok(Self {
            generator,
            options,
            prompt,
            promises: TaskCues::promises(),
            merge_schema,
            verifier,
            drafts: ChunkDrafts::default(),
        })
    }

    /// Extracts `input`; `progress` is told after every generated token and may cancel by
    /// returning false.
    pub fn extract(
        &mut self,
        input: &MeetingInput,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        self.run(None, input, false, progress)
    }

    /// [`extract`](Self::extract) of meeting `meeting`'s transcript, reusing the chunks
    /// [`draft`](Self::draft) extracted while it was live (those whose lines are still the same).
    pub fn extract_meeting(
        &mut self,
        meeting: Uuid,
        input: &MeetingInput,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        self.run(Some(meeting), input, false, progress)
    }

    /// Extracts the chunks of a live meeting's transcript so far that no later line can change
    /// (every chunk but the last, which may still grow), each once, and keeps them for
    /// [`extract_meeting`](Self::extract_meeting). Returns the provisional items of every chunk
    /// drafted so far, verified as the minutes' are (no summary: that comes with the minutes).
    pub fn draft(
        &mut self,
        meeting: Uuid,
        input: &MeetingInput,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        self.run(Some(meeting), input, true, progress)
    }

    fn run(
        &mut self,
        meeting: Option<Uuid>,
        input: &MeetingInput,
        draft: bool,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        let started = Instant::now();
        let lines: Vec<(TranscriptLine, String)> = input
            .lines
            .iter()
            .filter(|l| !l.text.trim().is_empty())
            .map(|l| (l.clone(), format_line(&self.generator, l, self.options.chunk_tokens)))
            .collect();
        let preamble = self.prompt.preamble(input).clone();
        // Cached once per language (a lookup when it already is).
        self.generator.cache_prefix(&preamble)?;
        let context = DraftContext::of(input);
        let drafted = meeting.and_then(|m| self.drafts.get(m, context)).cloned().unwrap_or_default();
        let (starts, start) = reusable(&drafted, &lines);
        let reused = starts.len();
        let costs = lines[start..]
            .iter()
            .map(|(_, text)| Ok(self.generator.encode(text)?.len()))
            .collect::<Result<Vec<_>, LlmError>>()?;
        let mut plan: Vec<Range<usize>> = if start < lines.len() {
            chunk_lines(&costs, self.options.chunk_tokens, self.options.overlap_tokens)
                .into_iter()
                .map(|r| r.start + start..r.end + start)
                .collect()
        } else {
            Vec::new()
        };
        // A draft leaves the last chunk alone: the next lines may still join it.
        let open = if draft { plan.pop() } else { None };
        let n = reused + plan.len();
        let mut stats = ExtractStats { chunks: n, reused_chunks: reused, ..ExtractStats::default() };
        let mut summaries = Vec::new();
        let mut items = Vec::new();
        let (mut decisions, mut open_questions) = (Vec::new(), Vec::new());
        for (chunk, &at) in drafted.iter().zip(&starts) {
            summaries.push(chunk.answer.summary.clone());
            items.extend(chunk.items_as_read_now(&lines, at));
            decisions.extend(chunk.answer.decisions.iter().cloned());
            open_questions.extend(chunk.answer.open_questions.iter().cloned());
        }
        let mut new_drafts = Vec::new();
        for (i, range) in plan.iter().enumerate() {
            let number = reused + i + 1;
            let answer =
                self.extract_chunk(input, &preamble, &lines[range.clone()], number, n, &mut stats, progress)?;
            if draft {
                // Every drafted chunk has one after it: the open one at least.
                if let Some(next) = plan.get(i + 1).or(open.as_ref()).map(|r| lines[r.start].0.seq) {
                    new_drafts.push(DraftChunk::new(&lines[range.clone()], next, &answer));
                }
            }
            summaries.push(answer.summary);
            items.extend(answer.action_items);
            decisions.extend(answer.decisions);
            open_questions.extend(answer.open_questions);
        }
        if let Some(meeting) = meeting.filter(|_| !new_drafts.is_empty()) {
            let mut chunks = drafted[..reused].to_vec();
            chunks.extend(new_drafts);
            self.drafts.put(meeting, context, chunks);
        }
        let owners = LineOwners::new(
            input.attendees.iter().map(String::as_str).chain(lines.iter().filter_map(|(l, _)| l.speaker.as_deref())),
        );
        for item in &mut items {
            if let Some(owner) = item.source_segments.first().and_then(|&seq| owners.owner_at(seq, &lines)) {
                item.assignee = Some(owner);
            }
        }
        let summary = if draft {
            String::new()
        } else if summaries.len() <= 1 {
            summaries.pop().unwrap_or_default()
        } else {
            let base = stats.generated_tokens;
            let mut report =
                |tokens: usize| progress(ExtractProgress { chunk: n + 1, chunks: n, tokens: base + tokens });
            self.merge_summaries(input, &summaries, &mut stats, &mut report)?
        };
        let recaps: BTreeSet<i64> = lines.iter().filter(|(l, _)| is_recap(&l.text)).map(|(l, _)| l.seq).collect();
        let mut items = deduplicate(owners.merge_accepted(items, &lines), &recaps);
        let names: BTreeSet<String> = input
            .attendees
            .iter()
            .map(String::as_str)
            .chain(lines.iter().filter_map(|(l, _)| l.speaker.as_deref()))
            .flat_map(topic_words)
            .collect();
        // A title that only names people ("Ben Adler") says no work; a question its assignee asked
        // and nobody took is no task, nor a Korean request or idea the next speaker turns down.
        items.retain(|i| {
            let keep = !topic_words(&i.title).is_subset(&names)
                && !asked_by_assignee(i, &lines, &self.promises)
                && !matches!(i.source_segments[..], [seq] if owners.turned_down(seq, &lines));
            if !keep {
                tracing::debug!(title = %i.title, "dropping an item that names only people, its asker's question or one turned down");
            }
            keep
        });
        if let Some(min) = self.options.min_confidence {
            items.retain(|i| i.confidence >= min);
        }
        if let (Some(verifier), Some(min)) = (&self.verifier, self.options.min_verified) {
            let lines: Vec<TranscriptLine> = lines.into_iter().map(|(l, _)| l).collect();
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if !progress(ExtractProgress { chunk: n + 1, chunks: n, tokens: stats.generated_tokens }) {
                    return Err(LlmError::Cancelled);
                }
                // Asked once per item of a live meeting, whether by a draft or at the end.
                let known = meeting.and_then(|m| self.drafts.verified(m, context, &item));
                let log_odds = match known {
                    Some(log_odds) => log_odds,
                    None => {
                        let log_odds = verifier.log_odds(&mut self.generator, &item, &lines)?;
                        if let Some(m) = meeting {
                            self.drafts.remember(m, context, &item, log_odds);
                        }
                        log_odds
                    }
                };
                tracing::debug!(title = %item.title, log_odds, cached = known.is_some(), "item verified");
                if log_odds >= min {
                    kept.push(item);
                }
            }
            items = kept;
        }
        stats.total_time = started.elapsed();
        let extraction = Extraction {
            summary,
            action_items: items,
            decisions: distinct_notes(decisions),
            open_questions: distinct_notes(open_questions),
        };
        Ok((extraction, stats))
    }

    /// One chunk's summary and items (grounded in its lines, owners as the model wrote them).
    #[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one chunk's prompt")]
    fn extract_chunk(
        &mut self,
        input: &MeetingInput,
        preamble: &[Message; 3],
        chunk: &[(TranscriptLine, String)],
        number: usize,
        chunks: usize,
        stats: &mut ExtractStats,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<Extraction, LlmError> {
        tracing::info!(chunk = number, chunks, lines = chunk.len(), "extracting action items");
        let text: String = chunk.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
        let mut messages = preamble.to_vec();
        messages.push(Message::user(user_prompt(input, &text)));
        let keys = self.prompt.asked_lines(chunk.iter().map(|(l, _)| l));
        let base = stats.generated_tokens;
        let mut report = |tokens: usize| progress(ExtractProgress { chunk: number, chunks, tokens: base + tokens });
        let schema = CompiledSchema::compile(&chunk_schema(&keys, &self.options)).map_err(LlmError::Config)?;
        let generation = self.generator.generate(&messages, &self.generation_options(), Some(&schema), &mut report)?;
        add_stats(stats, &generation);
        tracing::info!(
            chunk = number,
            chunks,
            prompt_tokens = generation.prompt_tokens,
            cached_prompt_tokens = generation.cached_prompt_tokens,
            tokens = generation.tokens.len(),
            stop = ?generation.stop,
            "chunk extracted"
        );
        tracing::debug!(answer = %generation.text, log_odds = ?generation.nullable_log_odds, "chunk answer");
        let answer = chunk_answer::parse(&generation.text, generation.stop)?;
        let mut extraction = answer.ground(&keys, &generation.nullable_log_odds, chunk, self.options.description_chars);
        clean(&mut extraction);
        Ok(extraction)
    }

    fn generation_options(&self) -> GenerationOptions {
        GenerationOptions {
            max_new_tokens: self.options.max_new_tokens,
            sampler: self.options.sampler,
            value_bias: self.options.task_bias,
            draft_tokens: self.options.draft_tokens,
        }
    }

    fn merge_summaries(
        &mut self,
        input: &MeetingInput,
        summaries: &[String],
        stats: &mut ExtractStats,
        progress: &mut dyn FnMut(usize) -> bool,
    ) -> Result<String, LlmError> {
        tracing::info!(parts = summaries.len(), "merging chunk summaries");
        let messages = extraction_prompt::merge_messages(input, summaries);
        let schema = self.merge_schema.clone();
        let generation = self.generator.generate(&messages, &self.generation_options(), Some(&schema), progress)?;
        add_stats(stats, &generation);
        #[derive(serde::Deserialize)]
        struct Merged {
            summary: String,
        }
        let merged: Merged = serde_json::from_str(&generation.text).map_err(|e| LlmError::Output(e.to_string()))?;
        Ok(chunk_answer::without_loop(merged.summary.trim()))
    }
}

/// Decisions or questions of every chunk, in transcript order, one per line cited and one per
/// wording (overlapping chunks read the same lines twice).
fn distinct_notes(mut notes: Vec<MinutesNote>) -> Vec<MinutesNote> {
    notes.sort_by_key(|n| n.source_segments.first().copied());
    let mut seen_lines = BTreeSet::new();
    let mut seen_words = Vec::new();
    notes.retain(|n| {
        let words = topic_words(&n.text);
        let new = n.source_segments.first().is_none_or(|&seq| seen_lines.insert(seq)) && !seen_words.contains(&words);
        seen_words.push(words);
        new
    });
    notes
}

fn add_stats(stats: &mut ExtractStats, g: &Generation) {
    stats.prompt_tokens += g.prompt_tokens - g.cached_prompt_tokens;
    stats.cached_prompt_tokens += g.cached_prompt_tokens;
    stats.generated_tokens += g.tokens.len();
    stats.prefill_time += g.prefill_time;
    stats.decode_time += g.decode_time;
    stats.decode_calls += g.decode_calls;
    stats.constraint_time += g.constraint_time;
    stats.masked_steps += g.masked_steps;
    stats.mask_time += g.mask_time;
    stats.drafted += g.drafted;
    stats.accepted_drafts += g.accepted_drafts;
}

/// What a [`MeetingExtractor`] on an [`LlmWorker`] is asked.
#[derive(Debug, Clone)]
pub enum MinutesRequest {
    /// A transcript's minutes ([`MeetingExtractor::extract`]), or a stored meeting's, reusing
    /// the chunks drafted while it was live ([`MeetingExtractor::extract_meeting`]).
    Final { meeting: Option<Uuid>, input: MeetingInput },
    /// A live meeting's transcript so far ([`MeetingExtractor::draft`]).
    Draft { meeting: Uuid, input: MeetingInput },
}

/// A [`MeetingExtractor`] serves an [`LlmWorker`]: a meeting in, its extraction and cost out.
impl LlmHandler for MeetingExtractor {
    type Options = ExtractOptions;
    type Request = MinutesRequest;
    type Response = (Extraction, ExtractStats);
    type Progress = ExtractProgress;

    fn load(generator: Generator, options: ExtractOptions) -> Result<Self, LlmError> {
        Self::new(generator, options)
    }

    fn handle(
        &mut self,
        request: &MinutesRequest,
        progress: &mut dyn FnMut(ExtractProgress) -> bool,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        let mut report = |p: ExtractProgress| {
            if p.tokens.is_multiple_of(64) {
                tracing::debug!(chunk = p.chunk, chunks = p.chunks, tokens = p.tokens, "generating");
            }
            progress(p)
        };
        let (input, result) = match request {
            MinutesRequest::Final { meeting, input } => (input, self.run(*meeting, input, false, &mut report)),
            MinutesRequest::Draft { meeting, input } => (input, self.draft(*meeting, input, &mut report)),
        };
        match &result {
            Ok((extraction, stats)) => tracing::info!(
                lines = input.lines.len(),
                items = extraction.action_items.len(),
                chunks = stats.chunks,
                reused_chunks = stats.reused_chunks,
                draft = matches!(request, MinutesRequest::Draft { .. }),
                generated_tokens = stats.generated_tokens,
                seconds = stats.total_time.as_secs_f32(),
                "extraction done"
            ),
            Err(LlmError::Cancelled) => tracing::info!("extraction cancelled by its caller"),
            Err(e) => tracing::warn!(error = %e, "extraction failed"),
        }
        result
    }
}

impl LlmWorker<MeetingExtractor> {
    /// Summary and action items of `input` (see [`LlmWorker`] for the queue policy).
    pub async fn extract(&self, input: MeetingInput) -> Result<Extraction, LlmError> {
        Ok(self.submit(MinutesRequest::Final { meeting: None, input }).await?.0)
    }

    /// [`extract`](Self::extract) plus what it cost.
    pub async fn extract_with_stats(&self, input: MeetingInput) -> Result<(Extraction, ExtractStats), LlmError> {
        self.submit(MinutesRequest::Final { meeting: None, input }).await
    }

    /// The minutes of stored meeting `meeting` ([`MeetingExtractor::extract_meeting`]).
    pub async fn extract_meeting(
        &self,
        meeting: Uuid,
        input: MeetingInput,
    ) -> Result<(Extraction, ExtractStats), LlmError> {
        self.submit(MinutesRequest::Final { meeting: Some(meeting), input }).await
    }

    /// Provisional items of live meeting `meeting` ([`MeetingExtractor::draft`]).
    pub async fn draft(&self, meeting: Uuid, input: MeetingInput) -> Result<(Extraction, ExtractStats), LlmError> {
        self.submit(MinutesRequest::Draft { meeting, input }).await
    }
}
