//! `GET /v1/models`: what live sessions can be asked for, so a client (the browser page) offers
//! only choices the server accepts.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::Principal;

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveModel {
    /// Pass as `model=` on `/v1/listen` (informational: the server serves one model).
    pub id: String,
    /// As `Results.metadata.model_info.name` reports it.
    pub name: String,
    /// Values `language=` accepts; `multi` (or none) means detected on the first speech, then kept.
    pub languages: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Empty when the server runs without live sessions (`--no-live`).
    pub models: Vec<LiveModel>,
}

#[utoipa::path(get, path = "/v1/models", tag = "live",
    responses((status = 200, body = ModelList), (status = "4XX", body = Problem)))]
pub async fn list(State(state): State<AppState>, _who: Principal) -> ApiResult<Json<ModelList>> {
    let models = state
        .live
        .iter()
        .map(|live| {
            let config = &live.config;
            let known = live.asr.languages();
            let languages = if known.is_empty() {
                vec!["en".into()]
            } else {
                std::iter::once("multi".to_owned()).chain(known.iter().cloned()).collect()
            };
            LiveModel { id: config.model_name.clone(), name: format!("whisper-{}", config.model_name), languages }
        })
        .collect();
    Ok(Json(ModelList { models }))
}
