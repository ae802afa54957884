// Drives the capture page and the overlay in Debian's Chromium (headless, fake microphone fed
// from a WAV file, kept off the network) and prints one JSON summary line for
// tests/live/browser_e2e.rs to judge. Usage:
//   node e2e.mjs <base url> <api key> <wav> <screenshot dir> <seconds to stream>
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, apiKey, wav, outDir, secondsArg] = process.argv.slice(2);
const streamSeconds = Number(secondsArg || 33);
mkdirSync(outDir, { recursive: true });

const args = [
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  `--use-file-for-fake-audio-capture=${wav}`,
  "--autoplay-policy=no-user-gesture-required",
  // Off the network: nothing but the test server on 127.0.0.1 resolves.
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-domain-reliability",
  "--disable-client-side-phishing-detection",
  "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];
if (process.getuid?.() === 0) args.push("--no-sandbox");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args });
const summary = { console: [], screenshots: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(page, name) {
  const path = join(outDir, name);
  await page.screenshot({ path, fullPage: false });
  summary.screenshots.push(path);
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
  await page.fill("#api-key", apiKey);
  await page.click("#sign-in-form button[type=submit]");
  await page.locator("#app").waitFor({ state: "visible", timeout: 15000 });
  signedIn = true;
  summary.models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
  summary.languages = await page.$$eval("#language option", (os) => os.map((o) => o.value));
  await page.fill("#title", "Browser e2e");

  await page.evaluate(() => {
    window.__states = [];
    new MutationObserver(() => window.__states.push(document.getElementById("conn").textContent + ": " + document.getElementById("conn").title))
      .observe(document.getElementById("conn"), { attributes: true, childList: true });
  });
  await page.click("#start");
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30000 });
  const liveAt = Date.now();
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
  summary.finals = await page.$$eval("#captions .final", (ps) => ps.map((p) => p.textContent.trim()));
  summary.finalSpeakers = await page.$$eval("#captions .final span[data-speaker]", (ss) => ss.map((s) => s.dataset.speaker));
  summary.sessionId = await page.$eval("#captions", (c) => c.dataset.session);

  // After the session ends the overlay's last two lines are the page's last two finals.
  let overlayLines = [];
  for (let i = 0; i < 50; i++) {
    overlayLines = await overlay.$$eval("#lines .line", (ls) => ls.map((l) => ({ text: l.textContent.trim(), final: l.classList.contains("final") })));
    const expected = summary.finals.slice(-2);
    if (overlayLines.length === expected.length && overlayLines.every((l, j) => l.text === expected[j])) break;
    await sleep(200);
  }
  summary.overlayLines = overlayLines;
  summary.overlayBackground = await overlay.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot(overlay, "overlay-end.png");

  // The meeting opens in the list with transcript, timeline and downloads.
  await page.locator("#meeting").waitFor({ state: "visible", timeout: 15000 });
  summary.meeting = await page.evaluate(() => ({
    title: document.getElementById("meeting-title").textContent,
    meta: document.getElementById("meeting-meta").textContent,
    listTitles: Array.from(document.querySelectorAll(".meeting-name")).map((e) => e.textContent),
    transcript: Array.from(document.querySelectorAll("#transcript .segment .text")).map((e) => e.textContent),
    timelineBlocks: document.querySelectorAll("#timeline .block").length,
  }));
  summary.downloads = await page.evaluate(async () => {
    const out = {};
    for (const f of ["srt", "vtt", "json"]) {
      const href = document.getElementById(`dl-${f}`).getAttribute("href");
      const r = await fetch(href);
      out[f] = { href, status: r.status, type: r.headers.get("content-type"), body: (await r.text()).slice(0, 400) };
    }
    return out;
  });
  await shot(page, "capture-page-meeting.png");

  // Sign out clears the cookie: the API answers 401 to the page afterwards (which Chromium logs).
  summary.states = await page.evaluate(() => window.__states);
  signedIn = false;
  await page.click("#sign-out");
  await page.locator("#sign-in").waitFor({ state: "visible" });
  summary.afterSignOut = await page.evaluate(async () => (await fetch("/v1/me")).status);
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
