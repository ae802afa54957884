//! `GET /v1/listen`: the live-transcription WebSocket (Deepgram's protocol; messages and close
//! codes in `docs/protocol.md`). Everything that can be refused is refused here, before the
//! upgrade, as problem+json: bad credentials (401), bad parameters (400), the tenant's or the
//! key's session quota reached (429), no capacity (503).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiQuery, KeytermQuery, StreamCaller};
use crate::auth::StreamScope;
use crate::session::{Caller, ListenParams, SessionActor, SessionRequest, choose_model};

pub async fn listen(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let ApiQuery(params) = ApiQuery::<ListenParams>::from_request_parts(&mut parts, &state).await?;
    let KeytermQuery(vocabulary) = KeytermQuery::from_request_parts(&mut parts, &state).await?;
    let caller = StreamCaller::authenticate(&state, &parts, params.token.as_deref()).await?;
    if caller.token.as_ref().is_some_and(|t| t.scope != StreamScope::Stream) {
        return Err(ApiError::Forbidden("a view token watches captions; opening a stream needs a stream token"));
    }
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state).await.map_err(|_| ApiError::BadRequest {
        code: "websocket_required",
        detail: "connect with a WebSocket client (Upgrade: websocket)".into(),
    })?;
    let live = state.live.clone().ok_or(ApiError::Unavailable {
        code: "live_unavailable",
        detail: "this server was started without speech models",
    })?;
    let invalid = |(field, message): (&str, String)| ApiError::field(field, "invalid", message);
    // A client that names no language gets its tenant's (a Korean team needs no parameters),
    // and one that names neither a model nor a language its tenant's model too.
    let mut params = params;
    let tenant = state.store.get_tenant(caller.tenant_id).await?;
    if params.language.is_none() {
        if params.model.is_none() {
            params.model = tenant.default_model;
        }
        params.language = tenant.default_language;
    }
    // The tenant's choice where the client makes none, on a server that keeps recordings.
    let keeps_recordings = live.recordings.is_some() && cfg!(feature = "opus");
    match params.record {
        Some(true) if !keeps_recordings => {
            return Err(ApiError::field("record", "unavailable", "this server keeps no recordings"));
        }
        None => params.record = Some(tenant.record_sessions && keeps_recordings),
        Some(_) => {}
    }
    let language = params.requested_language();
    let model = choose_model(&live.models, params.model.as_deref(), language.as_deref()).map_err(invalid)?;
    let mut options = params.validate(live.models[model].asr.languages()).map_err(invalid)?;
    // The session's own terms first: the prompt keeps what fits, in order.
    options.vocabulary = vocabulary;
    options.vocabulary.extend(tenant.glossary.0);
    if options.diarize && live.diarize.is_none() {
        return Err(ApiError::field("diarize", "unavailable", "this server has no speaker model (models/fetch.sh)"));
    }
    let admission = live.admit(Caller { tenant_id: caller.tenant_id, key: caller.key.clone() })?;
    let request = SessionRequest { tenant_id: caller.tenant_id, user_id: caller.user_id, options, model };
    let mut upgrade = upgrade.max_message_size(live.config.max_frame_bytes * 4);
    if caller.via_subprotocol {
        upgrade = upgrade.protocols(["token"]);
    }
    let actors = live.actors.clone();
    Ok(upgrade
        .on_upgrade(move |socket| actors.track_future(SessionActor::run(live, request, socket, admission)))
        .into_response())
}
