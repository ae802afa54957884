// The REST API as the signed-in page sees it: the session cookie goes along by itself
// (same origin); writes carry the CSRF header the server demands of cookie requests.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["x-ddalkkak-csrf"] = "1";
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { code: "network", detail: e.message });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, say: report the status.
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/// A short-lived token for a WebSocket: `stream` opens a session, `view` watches one.
export async function mintToken(scope, sessionId, ttlSeconds) {
  const body = { scope };
  if (sessionId) body.session_id = sessionId;
  if (ttlSeconds) body.ttl_seconds = ttlSeconds;
  return (await api("/v1/stream-tokens", { method: "POST", body })).token;
}

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
