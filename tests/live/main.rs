//! The server at work with the real models: live sessions over WebSocket, meeting intelligence,
//! the official SDK, the bot bridge, a real browser, the `ddalkkak` binary itself (CLI, SIGTERM,
//! SIGKILL mid-session, three instances on one PostgreSQL database) and Opus input. Tests that
//! start a model-serving server hold [`common::heavy`] for their whole run, so they never
//! overlap. The tests here that can use PostgreSQL have `postgres` in their name (`.ci/run`'s
//! PostgreSQL pass selects them by it).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod bot_bridge;
mod browser_e2e;
mod cli;
mod database_outage;
mod deepgram_sdk;
mod live_crash;
mod live_session;
mod meeting_intelligence;
mod multi_instance;
#[cfg(feature = "opus")]
mod opus_file;
mod recording;
mod voiceprint;
