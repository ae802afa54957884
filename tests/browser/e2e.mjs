// Drives the capture page and the overlay in Debian's Chromium (headless, fake microphone fed
// from a WAV file, kept off the network) and prints one JSON summary line for
// tests/live/browser_e2e.rs to judge: a first-time user in English on a desktop (wrong key, sign
// in, live meeting, overlay, the finished meeting with its minutes, rename, naming a speaker, one's
// own voice, uploading a recording, sign out), then in
// Korean on a phone (sign in, the meeting, a refused microphone), with axe-core's WCAG check on
// each. Usage:
//   node e2e.mjs <base url> <api key> <wav> <screenshot dir> <seconds to stream>
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { launch, shot as shotInto, signIn, sleep } from "./chromium.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const [base, apiKey, wav, outDir, secondsArg] = process.argv.slice(2);
const streamSeconds = Number(secondsArg || 33);
mkdirSync(outDir, { recursive: true });

const browser = await launch(wav);
const summary = { console: [], screenshots: [] };
const shot = (page, name) => shotInto(summary, outDir, page, name);

/// axe-core's WCAG 2.x A/AA rules on the page as it is; evaluated through the DevTools protocol,
/// so the page's Content-Security-Policy stays as served.
async function accessibility(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }),
  );
  return {
    // Rules that found something to check (a run that checked nothing would also find nothing).
    passed: result.passes.map((r) => r.id),
    violations: result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary?.split("\n")[1]?.trim() ?? ""}`),
    })),
  };
}

try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  // Before sign-in the page's probe of /v1/me is refused (401), which Chromium logs; count
  // console errors from the moment the page is signed in.
  let signedIn = false;
  page.on("console", (m) => signedIn && m.type() === "error" && summary.console.push(m.text()));
  page.on("pageerror", (e) => summary.console.push(`pageerror: ${e.message}`));

  await page.goto(`${base}/`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  summary.firstRun = await page.evaluate(() => ({
    badgeVisible: !document.getElementById("conn").hidden,
    lang: document.documentElement.lang,
    text: document.getElementById("sign-in").innerText,
  }));
  await shot(page, "1-sign-in.png");
  // A mistyped key says what a key looks like and where one comes from.
  await signIn(page, "dk_not_a_real_key");
  await page.locator("#sign-in-error:not(:empty)").waitFor({ timeout: 10000 });
  summary.wrongKey = await page.textContent("#sign-in-error");
  await signIn(page, apiKey);
  await page.locator("#app").waitFor({ state: "visible", timeout: 15000 });
  signedIn = true;
  summary.models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
  summary.languages = await page.$$eval("#language option", (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  await page.fill("#title", "Browser e2e");
  await page.check("#record");

  await page.evaluate(() => {
    window.__states = [];
    new MutationObserver(() => window.__states.push(document.getElementById("conn").textContent + ": " + document.getElementById("conn").title))
      .observe(document.getElementById("conn"), { attributes: true, childList: true });
  });
  await page.click("#start");
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30000 });
  const liveAt = Date.now();
  summary.fieldsLockedWhileLive = await page.evaluate(() =>
    ["language", "model", "title"].every((id) => document.getElementById(id).disabled),
  );
  // The live meeting is in the list at once.
  await page.locator(".meeting-item .status-PROCESSING").first().waitFor({ timeout: 15000 });
  summary.liveListed = await page.$$eval(".meeting-item", (bs) =>
    bs.map((b) => b.querySelector(".meeting-name").textContent + " | " + b.querySelector(".status").textContent),
  );
  const overlayLink = page.locator("#overlay-link");
  await page.locator("#overlay").waitFor({ state: "visible", timeout: 15000 });
  summary.overlayUrl = await overlayLink.getAttribute("href");

  const overlay = await context.newPage();
  overlay.on("console", (m) => m.type() === "error" && summary.console.push(`overlay: ${m.text()}`));
  overlay.on("pageerror", (e) => summary.console.push(`overlay pageerror: ${e.message}`));
  await overlay.setViewportSize({ width: 1280, height: 360 });
  await overlay.goto(summary.overlayUrl);

  // Mid-stream: the overlay shows captions while the page is still capturing.
  await overlay.locator("#lines .line").first().waitFor({ timeout: 60000 });
  summary.overlayLiveLines = await overlay.$$eval("#lines .line", (ls) => ls.map((l) => l.textContent.trim()));
  const midAt = Math.max(0, liveAt + (streamSeconds * 1000) / 2 - Date.now());
  await sleep(midAt);
  await shot(page, "capture-page-live.png");
  await shot(overlay, "overlay-live.png");
  // The meter follows the instantaneous level, which is 0 in a pause: its peak over 3 s.
  summary.levelDuringCapture = 0;
  for (let i = 0; i < 30; i++) {
    const level = await page.$eval("#level", (e) => Number(e.style.getPropertyValue("--level")));
    summary.levelDuringCapture = Math.max(summary.levelDuringCapture, level);
    await sleep(100);
  }
  summary.partialsSeen = await page.$$eval("#captions .partial", (ps) => ps.length);
  summary.meterValue = await page.getAttribute("#meter", "aria-valuenow");

  await sleep(Math.max(0, liveAt + streamSeconds * 1000 - Date.now()));

  // The key must be nowhere the page (or a script injected into it) could read it back.
  summary.keyExposure = await page.evaluate((key) => {
    const stores = [localStorage, sessionStorage].map((s) =>
      Array.from({ length: s.length }, (_, i) => s.key(i) + "=" + s.getItem(s.key(i))).join(";"),
    );
    return {
      localStorage: stores[0].includes(key),
      sessionStorage: stores[1].includes(key),
      document: document.documentElement.outerHTML.includes(key),
      inputs: Array.from(document.querySelectorAll("input")).some((i) => i.value.includes(key)),
      cookie: document.cookie.includes(key) || document.cookie.includes("ddk_session"),
    };
  }, apiKey);

  await page.click("#stop");
  await page.locator('#conn[data-state="stopped"]').waitFor({ timeout: 60000 });
  const runs = (ps) => ps.map((p) => Array.from(p.querySelectorAll(".run")).map((r) => r.textContent).join(" ").trim());
  summary.finals = await page.$$eval("#captions .final", runs);
  summary.finalSpeakers = await page.$$eval("#captions .final span[data-speaker]", (ss) => ss.map((s) => s.dataset.speaker));
  summary.speakerNamesShown = await page.$$eval("#captions .final .who", (ws) => ws.map((w) => w.textContent));
  summary.overlayLinkAfterStop = await page.isVisible("#overlay");
  summary.sessionId = await page.$eval("#captions", (c) => c.dataset.session);

  // After the session ends the overlay's last two lines are the page's last two finals.
  let overlayLines = [];
  for (let i = 0; i < 50; i++) {
    overlayLines = await overlay.$$eval("#lines .line", (ls) =>
      ls.map((l) => ({
        text: Array.from(l.querySelectorAll(".run")).map((r) => r.textContent).join(" ").trim(),
        final: l.classList.contains("final"),
      })),
    );
    const expected = summary.finals.slice(-2);
    if (overlayLines.length === expected.length && overlayLines.every((l, j) => l.text === expected[j])) break;
    await sleep(200);
  }
  summary.overlayLines = overlayLines;
  summary.overlayBackground = await overlay.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot(overlay, "overlay-end.png");
  // Links the server refuses say so instead of "reconnecting…" forever.
  await overlay.close();
  const overlayStatus = async (url, screenshot) => {
    const probe = await context.newPage();
    await probe.goto(url);
    await probe.locator("#status:not(:empty)").waitFor({ timeout: 15000 });
    if (screenshot) await shot(probe, screenshot);
    const text = await probe.textContent("#status");
    await probe.close();
    return text;
  };
  summary.overlayBadToken = await overlayStatus(`${base}/overlay/${summary.sessionId}#token=dst_forged.token`);
  summary.overlayEnded = await overlayStatus(summary.overlayUrl, "overlay-ended.png");

  // The meeting opens in the list with transcript, timeline and downloads.
  await page.locator("#meeting").waitFor({ state: "visible", timeout: 15000 });
  // The minutes arrive by themselves: queued, being written, then ready.
  summary.minutesStates = [await page.getAttribute("#minutes", "data-status")];
  for (let i = 0; i < 600; i++) {
    const state = await page.getAttribute("#minutes", "data-status");
    if (state !== summary.minutesStates.at(-1)) summary.minutesStates.push(state);
    if (state === "ready" || state === "failed") break;
    await sleep(500);
  }
  summary.minutes = await page.evaluate(() => ({
    status: document.getElementById("minutes-status").textContent,
    summary: document.getElementById("summary").textContent,
    items: Array.from(document.querySelectorAll("#actions li")).map((li) => li.innerText),
    decisions: Array.from(document.querySelectorAll("#decisions li")).map((li) => li.firstChild.textContent),
    questions: Array.from(document.querySelectorAll("#questions li")).map((li) => li.firstChild.textContent),
  }));
  // The minutes' download is the Markdown document, fetched as the link would be.
  summary.minutes.markdown = await page.evaluate(async () => {
    const link = document.getElementById("dl-minutes");
    const response = await fetch(link.href);
    return { download: link.download, type: response.headers.get("content-type"), text: await response.text() };
  });
  summary.meeting = await page.evaluate(() => ({
    title: document.getElementById("meeting-title").textContent,
    meta: document.getElementById("meeting-meta").textContent,
    listTitles: Array.from(document.querySelectorAll(".meeting-name")).map((e) => e.textContent),
    transcript: Array.from(document.querySelectorAll("#transcript .segment .text")).map((e) => e.textContent),
    transcriptSpeakers: Array.from(document.querySelectorAll("#transcript .segment .who")).map((e) => e.textContent),
    legend: Array.from(document.querySelectorAll("#legend .chip")).map((e) => e.textContent),
    timelineBlocks: document.querySelectorAll("#timeline .block").length,
    timelineLabel: document.getElementById("timeline").getAttribute("aria-label"),
  }));
  summary.downloads = await page.evaluate(async () => {
    const out = {};
    for (const f of ["srt", "vtt", "json"]) {
      const href = document.getElementById(`dl-${f}`).getAttribute("href");
      const r = await fetch(href);
      out[f] = { href, status: r.status, type: r.headers.get("content-type"), body: (await r.text()).slice(0, 400) };
    }
    // The meeting's audio, kept because "Keep the recording" was ticked.
    const audio = document.getElementById("dl-audio");
    const r = await fetch(audio.getAttribute("href"));
    const bytes = new Uint8Array(await r.arrayBuffer());
    out.audio = {
      shown: !document.getElementById("dl-audio-item").hidden,
      status: r.status,
      type: r.headers.get("content-type"),
      magic: String.fromCharCode(...bytes.slice(0, 4)),
      bytes: bytes.length,
    };
    return out;
  });
  await shot(page, "capture-page-meeting.png");

  // A task with an owner and a due date on this meeting shows both; renaming shows at once.
  summary.task = await page.evaluate(async () => {
    const me = await (await fetch("/v1/me")).json();
    const meeting = document.getElementById("meeting").dataset.id;
    const r = await fetch("/v1/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "x-ddalkkak-csrf": "1" },
      body: JSON.stringify({ title: "Send the notes", meeting_id: meeting, assignee_id: me.user.id, due_date: "2030-03-15T12:00:00Z" }),
    });
    return { status: r.status, owner: me.user.name, meeting };
  });
  await page.click("#rename");
  await page.fill("#rename-input", "Browser e2e (renamed)");
  await page.click("#rename-form button[type=submit]");
  await page.locator("#meeting-title", { hasText: "(renamed)" }).waitFor({ timeout: 10000 });
  summary.renamed = await page.evaluate(() => ({
    title: document.getElementById("meeting-title").textContent,
    list: Array.from(document.querySelectorAll(".meeting-name")).map((e) => e.textContent),
    tasks: Array.from(document.querySelectorAll("#actions li")).map((li) => li.innerText),
  }));
  await page.fill("#search", "renamed");
  await page.waitForFunction(() => document.querySelectorAll(".meeting-item").length === 1, null, { timeout: 10000 });
  await page.fill("#search", "no such meeting title");
  await page.locator("#meeting-list > li.hint").waitFor({ timeout: 10000 });
  summary.searchEmpty = await page.textContent("#meeting-list > li.hint");
  await page.fill("#search", "");
  await page.locator(".meeting-item").first().waitFor({ timeout: 10000 });
  await shot(page, "capture-page-minutes.png");

  // Who a stored speaker is: named from the legend.
  await page.click(".meeting-item");
  await page.locator("#legend .name-speaker-open").first().waitFor({ timeout: 10000 });
  await page.locator("#legend .name-speaker-open").first().click();
  await page.locator("#name-speaker").waitFor({ state: "visible", timeout: 5000 });
  await page.selectOption("#name-speaker-user", { label: summary.task.owner });
  await page.click("#name-speaker button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#legend .chip")?.textContent.startsWith("Owner"), null, { timeout: 10000 });
  summary.named = await page.evaluate(() => ({
    legend: Array.from(document.querySelectorAll("#legend .chip")).map((e) => e.firstChild.textContent),
    transcriptSpeakers: Array.from(document.querySelectorAll("#transcript .segment .who")).map((e) => e.textContent),
  }));

  // My voice: 15 s from the (fake) microphone, enrolled with consent, then deleted.
  await page.click("#voice summary");
  await page.click("#voice-record");
  summary.voiceWithoutConsent = await page.textContent("#voice-error");
  await page.check("#voice-consent");
  await page.click("#voice-record");
  await page.waitForFunction(
    () => !document.getElementById("voice-delete").hidden || document.getElementById("voice-error").textContent,
    null,
    { timeout: 60000 },
  );
  summary.voiceEnrolled = { status: await page.textContent("#voice-status"), error: await page.textContent("#voice-error") };
  await shot(page, "capture-page-voice.png");
  await page.click("#voice-delete");
  await page.locator("#voice-delete").waitFor({ state: "hidden", timeout: 10000 });
  summary.voiceDeleted = await page.textContent("#voice-status");

  // The team's names and terms: saved by the owner (one per line, blanks and repeats dropped).
  await page.click("#glossary summary");
  await page.fill("#glossary-terms", "장동련\n\nPgBouncer\npgbouncer\n  DdalKkak  ");
  await page.click("#glossary-save");
  await page.waitForFunction(() => document.getElementById("glossary-status").textContent, null, { timeout: 10000 });
  summary.glossary = {
    status: await page.textContent("#glossary-status"),
    terms: await page.inputValue("#glossary-terms"),
    stored: await page.evaluate(async () => (await (await fetch("/v1/tenant")).json()).glossary),
  };
  summary.axeDesktop = await accessibility(page);

  // A recording from this computer: uploaded, transcribed by the server, shown when it is done.
  await page.setInputFiles("#upload-file", wav);
  await page.waitForFunction(() => document.querySelectorAll(".meeting-item").length === 2, null, { timeout: 20000 });
  await page.waitForFunction(
    () =>
      document.getElementById("meeting-title").textContent === "pyannote_sample" &&
      document.querySelector("#meeting-meta .status")?.classList.contains("status-COMPLETED"),
    null,
    { timeout: 120000 },
  );
  summary.upload = {
    status: await page.textContent("#upload-status"),
    recordingLineHidden: await page.locator("#recording-status").isHidden(),
    transcript: await page.textContent("#transcript"),
    speakers: await page.locator("#legend .chip").count(),
  };
  await shot(page, "capture-page-upload.png");

  // Sign out clears the cookie: the API answers 401 to the page afterwards (which Chromium logs).
  summary.states = await page.evaluate(() => window.__states);
  signedIn = false;
  await page.click("#sign-out");
  await page.locator("#sign-in").waitFor({ state: "visible" });
  summary.afterSignOut = await page.evaluate(async () => (await fetch("/v1/me")).status);
  summary.signOutNotice = await page.textContent("#sign-in-notice");
  summary.signOutError = await page.textContent("#sign-in-error");

  // The same person on a phone with a Korean browser; the microphone is refused (the refusal is
  // what the browser's permission prompt answers when the user blocks it).
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "ko-KR", isMobile: true, hasTouch: true });
  await phone.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
  });
  const ko = await phone.newPage();
  ko.on("pageerror", (e) => summary.console.push(`phone pageerror: ${e.message}`));
  await ko.goto(`${base}/`);
  await ko.locator("#sign-in").waitFor({ state: "visible" });
  summary.phoneSignIn = { lang: await ko.evaluate(() => document.documentElement.lang), heading: await ko.textContent("#sign-in-heading") };
  await shot(ko, "2-phone-ko-sign-in.png");
  await signIn(ko, apiKey);
  await ko.locator("#app").waitFor({ state: "visible", timeout: 15000 });
  await ko.locator(".meeting-item").first().waitFor({ timeout: 10000 });
  summary.phone = await ko.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      start: document.getElementById("start").textContent,
      languages: Array.from(document.querySelectorAll("#language option")).map((o) => o.textContent),
      status: Array.from(document.querySelectorAll(".meeting-item .status")).map((s) => s.textContent),
      headerHeight: document.querySelector(".bar").getBoundingClientRect().height,
      captionsHeight: box("captions").height,
      meetingsTop: box("meetings-heading").top,
      scrollWidth: document.documentElement.scrollWidth,
    };
  });
  await shot(ko, "3-phone-ko-signed-in.png");
  // The live meeting (the uploaded one is newer).
  await ko.locator(".meeting-item", { hasNotText: "pyannote_sample" }).first().click();
  await ko.locator("#meeting").waitFor({ state: "visible", timeout: 10000 });
  await ko.locator('#minutes[data-status="ready"], #minutes[data-status="failed"], #minutes[data-status="none"]').waitFor({ timeout: 10000 });
  summary.phoneMeeting = await ko.evaluate(() => ({
    headings: Array.from(document.querySelectorAll("#meeting h4"))
      .filter((h) => h.checkVisibility())
      .map((h) => h.textContent),
    speakers: Array.from(document.querySelectorAll("#legend .chip")).map((e) => e.textContent),
    tasks: Array.from(document.querySelectorAll("#actions li")).map((li) => li.innerText),
  }));
  await ko.locator("#meeting").scrollIntoViewIfNeeded();
  await shot(ko, "4-phone-ko-meeting.png");
  summary.axePhone = await accessibility(ko);
  await ko.locator("#start").scrollIntoViewIfNeeded();
  await ko.click("#start");
  await ko.locator('#conn[data-state="error"]').waitFor({ timeout: 10000 });
  summary.micRefused = {
    message: await ko.textContent("#capture-error"),
    startEnabled: await ko.isEnabled("#start"),
    headerHeight: await ko.evaluate(() => document.querySelector(".bar").getBoundingClientRect().height),
    scrollWidth: await ko.evaluate(() => document.documentElement.scrollWidth),
  };
  await shot(ko, "5-phone-ko-mic-refused.png");
} catch (e) {
  summary.error = String(e?.stack || e);
  let n = 0;
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    summary.states ??= await p.evaluate(() => window.__states).catch(() => null);
    await p.screenshot({ path: join(outDir, `failure-${n++}.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
