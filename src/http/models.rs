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
    /// Pass as `model=` on `/v1/listen`; without it the session's language picks the model.
    pub id: String,
    /// As `Results.metadata.model_info.name` reports it.
    pub name: String,
    /// Values `language=` accepts; `multi` (or none) means detected on the first speech, then
    /// kept; a comma-separated list of them (`ko,en`) means detected among those only.
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
        .flat_map(|live| &live.models)
        .map(|served| {
            let languages = if served.english_only() {
                vec!["en".into()]
            } else {
                std::iter::once("multi".to_owned()).chain(served.languages()).collect()
            };
            LiveModel { id: served.name.clone(), name: format!("whisper-{}", served.name), languages }
        })
        .collect();
    Ok(Json(ModelList { models }))
}
