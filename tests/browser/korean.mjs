// A person of a Korean tenant on the capture page: a Korean browser, the fake microphone playing
// Korean speech, no language chosen. Prints one JSON summary line for tests/live/browser_e2e.rs.
//   node korean.mjs <base url> <api key> <wav> <screenshot dir> <seconds to stream>
import { mkdirSync } from "node:fs";
import { launch, shot as shotInto, signIn, sleep } from "./chromium.mjs";

const [base, apiKey, wav, outDir, secondsArg] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const browser = await launch(wav);
const summary = { console: [], screenshots: [] };
const shot = (page, name) => shotInto(summary, outDir, page, name);

try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: "ko-KR" });
  const page = await context.newPage();
  page.on("pageerror", (e) => summary.console.push(`pageerror: ${e.message}`));
  await page.goto(`${base}/`);
  await page.locator("#sign-in").waitFor({ state: "visible" });
  await signIn(page, apiKey);
  await page.locator("#app").waitFor({ state: "visible", timeout: 15000 });
  summary.lang = await page.evaluate(() => document.documentElement.lang);
  summary.languages = await page.$$eval("#language option", (os) => os.slice(0, 3).map((o) => o.textContent));
  summary.chosenLanguage = await page.$eval("#language", (s) => s.options[s.selectedIndex]?.textContent ?? "");
  await page.click("#start");
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30000 });
  await sleep(Number(secondsArg) * 1000);
  await shot(page, "ko-1-capture-live.png");
  await page.click("#stop");
  await page.locator('#conn[data-state="stopped"]').waitFor({ timeout: 60000 });
  summary.finals = await page.$$eval("#captions .final", (ps) =>
    ps.map((p) => Array.from(p.querySelectorAll(".run")).map((r) => r.textContent).join(" ").trim()),
  );
  summary.sessionId = await page.$eval("#captions", (c) => c.dataset.session);
  await shot(page, "ko-2-capture-stopped.png");
} catch (e) {
  summary.error = String(e?.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
