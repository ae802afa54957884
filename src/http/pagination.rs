//! Opaque keyset cursors: base64url of `<created_at RFC 3339>|<id>`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::error::ApiError;
use crate::store::Cursor;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub fn encode(cursor: Cursor) -> String {
    let created = cursor.created_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    URL_SAFE_NO_PAD.encode(format!("{created}|{}", cursor.id))
}

pub fn decode(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let bad = || ApiError::field("cursor", "invalid_cursor", "not a cursor returned by this API");
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (created, id) = raw.split_once('|').ok_or_else(bad)?;
    Ok(Some(Cursor {
        created_at: DateTime::parse_from_rfc3339(created).map_err(|_| bad())?.with_timezone(&Utc),
        id: Uuid::parse_str(id).map_err(|_| bad())?,
    }))
}

pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(ApiError::field("limit", "out_of_range", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { created_at: crate::domain::now(), id: Uuid::new_v4() };
        assert_eq!(decode(Some(&encode(c))).unwrap(), Some(c));
        assert!(decode(Some("not-a-cursor")).is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(101)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
    }
}
