// UI strings in English and Korean. The language follows the browser (`navigator.languages`)
// until the user picks one in the header; the pick is kept in localStorage. Static text in the
// HTML carries `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-label` (aria-label) and
// `data-i18n-title` keys; scripts call `t(key, values)`.

const STRINGS = {
  en: {
    "app.title": "DdalKkak · live captions",
    "ui.language": "Language of this page",
    "conn.idle": "ready",
    "conn.connecting": "connecting",
    "conn.reconnecting": "reconnecting",
    "conn.live": "live",
    "conn.closing": "finishing",
    "conn.stopped": "stopped",
    "conn.error": "problem",
    "signin.heading": "Sign in",
    "signin.hint": "Paste an API key once. The page trades it for a session cookie that lasts 12 hours; the key itself is not kept.",
    "signin.where":
      "Where is my key? The first start of the server writes the owner's key to data/secrets/owner-api-key. The owner (or an admin) makes keys for everyone else: POST /v1/users, then POST /v1/api-keys.",
    "signin.key": "API key",
    "signin.submit": "Sign in",
    "signout": "Sign out",
    "signout.done": "You are signed out. Paste a key to sign in again.",
    "live.heading": "Live",
    "live.language": "Spoken language",
    "live.model": "Speech model",
    "live.model.auto": "Automatic (by language)",
    "live.title": "Title",
    "live.record": "Keep the recording",
    "live.title.placeholder": "Meeting {when}",
    "live.start": "Start",
    "live.stop": "Stop",
    "live.meter": "Microphone level",
    "live.placeholder": "Captions appear here when you start.",
    "live.nomodels": "This server runs without speech models, so live captions are off. Ask its operator to start it with models (bash scripts/setup.sh).",
    "live.detect": "Detect automatically",
    "live.degraded": "The server cannot save to its database right now. Captions go on and are kept until it can; keep talking.",
    "overlay.text": "Caption overlay for OBS (browser source):",
    "overlay.open": "open",
    "overlay.copy": "copy link",
    "overlay.copied": "copied",
    "overlay.failed": "No overlay link: {detail}",
    "overlay.invalid": "This caption link is not valid or has expired. Open a new one from the capture page (it shows the link while a meeting is live).",
    "overlay.otherSession": "This caption link belongs to another meeting. Open the link shown for this meeting on the capture page.",
    "overlay.unknown": "There is no live meeting at this link. Check the link, or open a new one from the capture page.",
    "overlay.ended": "This meeting has ended.",
    "overlay.reconnecting": "reconnecting…",
    "mic.denied":
      "The microphone is blocked for this page. Allow it: click the icon left of the address bar (Chrome, Edge: the tune or camera icon; Firefox: the microphone icon; Safari: Settings for This Website), set Microphone to Allow, then press Start again.",
    "mic.missing": "No microphone was found. Plug one in (or pick one in your system settings), then press Start again.",
    "mic.busy": "The microphone is in use by another program or could not be opened. Close the other program, then press Start again.",
    "mic.other": "The microphone could not be opened ({detail}).",
    "meetings.heading": "Meetings",
    "meetings.refresh": "refresh",
    "meetings.search": "Search titles and transcripts",
    "meetings.empty": "No meetings yet. Press Start to capture your first one.",
    "meetings.nomatch": "No meeting matches “{q}”.",
    "upload.button": "Upload a recording",
    "upload.sending": "Uploading {name}…",
    "upload.done": "{name} is uploaded; its transcript, speakers and minutes follow by themselves.",
    "recording.queued": "The recording waits for its turn to be transcribed.",
    "recording.running": "Transcribing the recording: {percent} %{eta}",
    "recording.eta": ", about {time} left",
    "recording.failed": "The recording could not be transcribed: {why}",
    "meeting.rename": "Rename",
    "meeting.save": "Save",
    "meeting.cancel": "Cancel",
    "meeting.delete": "Delete",
    "meeting.deleteConfirm": "Delete “{title}”? An admin can restore it later.",
    "meeting.download": "Download:",
    "meeting.audio": "Audio",
    "meeting.segments": "{n} segments",
    "meeting.timeline": "Who spoke when",
    "meeting.summary": "Summary",
    "meeting.actions": "Action items",
    "meeting.decisions": "Decisions",
    "meeting.questions": "Open questions",
    "meeting.minutesfile": "Minutes (Markdown)",
    "minutes.at": "{time}, {speaker}",
    "meeting.transcript": "Transcript",
    "meeting.notranscript": "No transcript.",
    "live.proposed": "Action items so far",
    "live.provisional": "Proposed while the meeting runs; the minutes confirm them when it ends.",
    "minutes.none": "No minutes: the meeting has no transcript.",
    "minutes.queued": "Waiting for the summariser. The minutes appear here by themselves.",
    "minutes.running": "Writing the summary and action items…",
    "minutes.failed": "The summary could not be written (after {n} tries). The transcript is complete.",
    "minutes.nosummary": "The summariser wrote no summary.",
    "minutes.noitems": "No action items were found in this meeting.",
    "minutes.owner": "Owner: {name}",
    "minutes.noowner": "No owner named",
    "minutes.due": "Due {date}",
    "minutes.said": "said: “{text}”",
    "minutes.ai": "AI",
    "speaker.who": "Who is",
    "speaker.name": "name",
    "speaker.nobody": "nobody (number only)",
    "glossary.heading": "Names and terms",
    "glossary.hint": "One per line: people's names, product names, jargon, written the way they should be spelled. Every meeting of the team uses them (at most 100, each at most 100 characters).",
    "glossary.save": "Save for the team",
    "glossary.saved": "Saved: {n} terms.",
    "glossary.adminOnly": "Only an admin can change the team's names and terms.",
    "voice.heading": "My voice (names me in meetings)",
    "voice.hint": "Record 15 seconds of yourself speaking. Meetings then show your name instead of a speaker number. The voice sample is stored encrypted, used only inside your team, never exported, and you can delete it at any time.",
    "voice.consent": "I agree that my voice is stored for this purpose",
    "voice.record": "Record 15 s",
    "voice.recording": "Recording… speak now",
    "voice.delete": "Delete my voice",
    "voice.none": "Not enrolled: meetings show you as a speaker number.",
    "voice.enrolled": "Enrolled on {date}: meetings name you when your voice is recognised.",
    "voice.needConsent": "Tick the box to agree first.",
    "speaker.unknown": "Unknown speaker",
    "speaker.n": "Speaker {n}",
    "speaker.recognised": "Speaker {n}, recognised (confidence {c})",
    "status.PENDING": "waiting",
    "status.PROCESSING": "live",
    "status.COMPLETED": "done",
    "status.FAILED": "failed",
    "task.TODO": "to do",
    "task.IN_PROGRESS": "in progress",
    "task.DONE": "done",
    "error.key": "This key was not accepted. A key starts with dk_ and is shown once when it is made; ask your admin for a new one if yours was revoked.",
    "error.session": "Your sign-in has ended. Sign in again with your API key.",
    "error.rate": "Too many requests from this key. Wait a few seconds and try again.",
    "error.quota": "Your team already has as many live meetings open as it may. End one, then press Start again.",
    "error.busy": "The server is busy right now. Try again in a minute.",
    "error.network": "The server cannot be reached. Check your connection; the page retries by itself.",
    "error.internal": "Something went wrong on the server ({detail}). Try again; if it keeps happening, tell your admin.",
    "error.forbidden": "Your role does not allow this. Ask an admin.",
    "error.other": "{detail}",
    "error.audio": "This file is not audio the server reads. Send WAV, MP3, M4A, FLAC, Ogg or WebM.",
    "error.toolarge": "This file is larger than the server accepts. Ask your admin for the limit, or send a shorter or compressed file.",
    "retry.in": "{why}; trying again in {s} s (attempt {n})",
  },
  ko: {
    "app.title": "딸깍 · 실시간 자막",
    "ui.language": "화면 언어",
    "conn.idle": "준비됨",
    "conn.connecting": "연결 중",
    "conn.reconnecting": "다시 연결 중",
    "conn.live": "녹음 중",
    "conn.closing": "마무리 중",
    "conn.stopped": "멈춤",
    "conn.error": "문제 발생",
    "signin.heading": "로그인",
    "signin.hint": "API 키를 한 번 붙여 넣으세요. 페이지는 키를 12시간 동안 유효한 세션 쿠키로 바꾸며, 키 자체는 보관하지 않습니다.",
    "signin.where":
      "키는 어디에 있나요? 서버를 처음 시작하면 소유자(OWNER)의 키가 data/secrets/owner-api-key 에 저장됩니다. 다른 사람의 키는 소유자나 관리자가 만듭니다: POST /v1/users 다음 POST /v1/api-keys.",
    "signin.key": "API 키",
    "signin.submit": "로그인",
    "signout": "로그아웃",
    "signout.done": "로그아웃했습니다. 다시 로그인하려면 키를 붙여 넣으세요.",
    "live.heading": "실시간",
    "live.language": "회의 언어",
    "live.model": "음성 인식 모델",
    "live.model.auto": "자동 (언어에 맞게)",
    "live.title": "제목",
    "live.record": "녹음 보관",
    "live.title.placeholder": "회의 {when}",
    "live.start": "시작",
    "live.stop": "중지",
    "live.meter": "마이크 입력 크기",
    "live.placeholder": "시작하면 여기에 자막이 나타납니다.",
    "live.nomodels": "이 서버는 음성 모델 없이 실행 중이라 실시간 자막을 쓸 수 없습니다. 운영자에게 모델을 설치해 달라고 하세요 (bash scripts/setup.sh).",
    "live.detect": "자동 감지",
    "live.degraded": "서버가 지금 데이터베이스에 저장하지 못하고 있습니다. 자막은 계속되며 저장할 수 있을 때까지 보관됩니다. 계속 말씀하세요.",
    "overlay.text": "OBS용 자막 오버레이 (브라우저 소스):",
    "overlay.open": "열기",
    "overlay.copy": "링크 복사",
    "overlay.copied": "복사됨",
    "overlay.failed": "오버레이 링크를 만들지 못했습니다: {detail}",
    "overlay.invalid": "이 자막 링크는 올바르지 않거나 만료되었습니다. 캡처 페이지에서 새 링크를 여세요 (회의가 진행 중일 때 링크가 보입니다).",
    "overlay.otherSession": "이 자막 링크는 다른 회의의 링크입니다. 캡처 페이지에서 이 회의의 링크를 여세요.",
    "overlay.unknown": "이 링크에 진행 중인 회의가 없습니다. 링크를 확인하거나 캡처 페이지에서 새 링크를 여세요.",
    "overlay.ended": "회의가 끝났습니다.",
    "overlay.reconnecting": "다시 연결 중…",
    "mic.denied":
      "이 페이지의 마이크 사용이 차단되어 있습니다. 주소창 왼쪽의 아이콘을 눌러 (Chrome, Edge: 설정 또는 카메라 아이콘, Firefox: 마이크 아이콘, Safari: 이 웹사이트 설정) 마이크를 허용으로 바꾼 뒤 다시 시작을 누르세요.",
    "mic.missing": "마이크를 찾지 못했습니다. 마이크를 연결하거나 시스템 설정에서 고른 뒤 다시 시작을 누르세요.",
    "mic.busy": "다른 프로그램이 마이크를 쓰고 있거나 열 수 없습니다. 그 프로그램을 닫고 다시 시작을 누르세요.",
    "mic.other": "마이크를 열지 못했습니다 ({detail}).",
    "meetings.heading": "회의",
    "meetings.refresh": "새로 고침",
    "meetings.search": "제목과 회의록 검색",
    "meetings.empty": "아직 회의가 없습니다. 시작을 눌러 첫 회의를 기록해 보세요.",
    "meetings.nomatch": "“{q}”에 맞는 회의가 없습니다.",
    "upload.button": "녹음 파일 올리기",
    "upload.sending": "{name} 올리는 중…",
    "upload.done": "{name} 파일을 올렸습니다. 회의록, 화자, 요약이 자동으로 이어집니다.",
    "recording.queued": "녹음이 전사 차례를 기다리고 있습니다.",
    "recording.running": "녹음 전사 중: {percent}%{eta}",
    "recording.eta": ", 약 {time} 남음",
    "recording.failed": "녹음을 전사하지 못했습니다: {why}",
    "meeting.rename": "이름 바꾸기",
    "meeting.save": "저장",
    "meeting.cancel": "취소",
    "meeting.delete": "삭제",
    "meeting.deleteConfirm": "“{title}” 회의를 삭제할까요? 관리자가 나중에 되살릴 수 있습니다.",
    "meeting.download": "내려받기:",
    "meeting.audio": "오디오",
    "meeting.segments": "{n}개 구간",
    "meeting.timeline": "누가 언제 말했나",
    "meeting.summary": "요약",
    "meeting.actions": "할 일",
    "meeting.decisions": "결정 사항",
    "meeting.questions": "미결 사항",
    "meeting.minutesfile": "회의록 (Markdown)",
    "minutes.at": "{time}, {speaker}",
    "meeting.transcript": "회의록",
    "meeting.notranscript": "회의록이 없습니다.",
    "live.proposed": "지금까지의 할 일",
    "live.provisional": "회의 중에 제안된 항목입니다. 회의가 끝나면 회의록에서 확정됩니다.",
    "minutes.none": "회의록이 없어 요약하지 않습니다.",
    "minutes.queued": "요약을 기다리는 중입니다. 준비되면 여기에 저절로 나타납니다.",
    "minutes.running": "요약과 할 일을 정리하는 중…",
    "minutes.failed": "요약을 만들지 못했습니다 ({n}번 시도). 회의록은 모두 저장되어 있습니다.",
    "minutes.nosummary": "요약이 작성되지 않았습니다.",
    "minutes.noitems": "이 회의에서 할 일을 찾지 못했습니다.",
    "minutes.owner": "담당: {name}",
    "minutes.noowner": "담당자 없음",
    "minutes.due": "기한 {date}",
    "minutes.said": "발언: “{text}”",
    "minutes.ai": "AI",
    "speaker.who": "이 화자는",
    "speaker.name": "이름 지정",
    "speaker.nobody": "지정 안 함 (번호만)",
    "glossary.heading": "이름과 용어",
    "glossary.hint": "한 줄에 하나씩: 사람 이름, 제품 이름, 전문 용어를 올바른 표기로 적으세요. 팀의 모든 회의에 쓰입니다 (최대 100개, 각 100자 이내).",
    "glossary.save": "팀에 저장",
    "glossary.saved": "저장됨: 용어 {n}개.",
    "glossary.adminOnly": "팀의 이름과 용어는 관리자만 바꿀 수 있습니다.",
    "voice.heading": "내 목소리 (회의에서 이름으로 표시)",
    "voice.hint": "15초 동안 말하는 목소리를 녹음하세요. 그러면 회의에서 화자 번호 대신 이름이 표시됩니다. 목소리는 암호화되어 팀 안에서만 쓰이고, 밖으로 내보내지 않으며, 언제든 지울 수 있습니다.",
    "voice.consent": "이 목적으로 내 목소리를 저장하는 데 동의합니다",
    "voice.record": "15초 녹음",
    "voice.recording": "녹음 중… 말씀하세요",
    "voice.delete": "내 목소리 삭제",
    "voice.none": "등록되지 않음: 회의에서 화자 번호로 표시됩니다.",
    "voice.enrolled": "{date}에 등록됨: 목소리가 인식되면 회의에 이름이 표시됩니다.",
    "voice.needConsent": "먼저 동의 상자를 선택하세요.",
    "speaker.unknown": "알 수 없는 화자",
    "speaker.n": "화자 {n}",
    "speaker.recognised": "화자 {n}, 인식됨 (신뢰도 {c})",
    "status.PENDING": "대기",
    "status.PROCESSING": "진행 중",
    "status.COMPLETED": "완료",
    "status.FAILED": "실패",
    "task.TODO": "할 일",
    "task.IN_PROGRESS": "진행 중",
    "task.DONE": "완료",
    "error.key": "이 키는 사용할 수 없습니다. 키는 dk_ 로 시작하며 만들 때 한 번만 보입니다. 키가 폐기되었다면 관리자에게 새 키를 요청하세요.",
    "error.session": "로그인이 끝났습니다. API 키로 다시 로그인하세요.",
    "error.rate": "이 키의 요청이 너무 많습니다. 몇 초 뒤에 다시 시도하세요.",
    "error.quota": "팀에서 열 수 있는 실시간 회의가 모두 사용 중입니다. 하나를 끝낸 뒤 다시 시작을 누르세요.",
    "error.busy": "서버가 지금 바쁩니다. 1분 뒤에 다시 시도하세요.",
    "error.network": "서버에 연결할 수 없습니다. 네트워크를 확인하세요. 페이지가 스스로 다시 시도합니다.",
    "error.internal": "서버에서 문제가 생겼습니다 ({detail}). 다시 시도하고, 계속되면 관리자에게 알려 주세요.",
    "error.forbidden": "권한이 없습니다. 관리자에게 요청하세요.",
    "error.other": "{detail}",
    "error.audio": "서버가 읽을 수 없는 파일입니다. WAV, MP3, M4A, FLAC, Ogg, WebM 파일을 보내세요.",
    "error.toolarge": "서버가 받는 크기보다 큰 파일입니다. 관리자에게 한도를 묻거나, 더 짧거나 압축된 파일을 보내세요.",
    "retry.in": "{why}; {s}초 뒤 다시 시도 ({n}번째)",
  },
};

export const UI_LANGUAGES = ["en", "ko"];
const STORE_KEY = "ddalkkak.ui-language";

function fromBrowser() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = tag.toLowerCase().split("-")[0];
    if (UI_LANGUAGES.includes(base)) return base;
  }
  return "en";
}

let current = (() => {
  const saved = localStorage.getItem(STORE_KEY);
  return UI_LANGUAGES.includes(saved) ? saved : fromBrowser();
})();

export function uiLanguage() {
  return current;
}

export function setUiLanguage(language) {
  if (!UI_LANGUAGES.includes(language)) return;
  current = language;
  localStorage.setItem(STORE_KEY, language);
  applyStatic();
}

/// The string `key` in the page's language with `{name}` replaced from `values`.
export function t(key, values = {}) {
  const template = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/// Fills every element marked with `data-i18n*` and sets the document's language.
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  document.title = t("app.title");
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of root.querySelectorAll("[data-i18n-label]")) e.setAttribute("aria-label", t(e.dataset.i18nLabel));
  for (const e of root.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
}

/// A language code as its name in the page's language ("ko" → "한국어" or "Korean").
export function languageName(code) {
  if (code === "multi") return t("live.detect");
  try {
    const name = new Intl.DisplayNames([current], { type: "language" }).of(code);
    return name && name !== code ? name : code;
  } catch {
    return code;
  }
}

/// Dates and times in the page's language and the browser's time zone.
export function dateTime(value) {
  return new Date(value).toLocaleString(current === "ko" ? "ko-KR" : undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function dateOnly(value) {
  return new Date(value).toLocaleDateString(current === "ko" ? "ko-KR" : undefined, { dateStyle: "medium", timeZone: "UTC" });
}

/// What an API problem means for the person in front of the page, and what to do next.
/// `signingIn`: a refused key, rather than an ended session.
export function problemMessage(error, { signingIn = false } = {}) {
  const detail = error?.message || String(error);
  switch (error?.code) {
    case "unauthorized":
      return t(signingIn ? "error.key" : "error.session");
    case "forbidden":
      return t("error.forbidden");
    case "rate_limited":
      return t("error.rate");
    case "tenant_session_quota":
    case "key_session_quota":
      return t("error.quota");
    case "overloaded":
    case "too_many_viewers":
      return t("error.busy");
    case "internal":
      return t("error.internal", { detail });
    case "network":
      return t("error.network");
    case "unsupported_audio":
    case "empty_body":
      return t("error.audio");
    case "payload_too_large":
      return t("error.toolarge");
    default:
      return t("error.other", { detail });
  }
}
