// What the browser tests share: Debian's Chromium launched headless and off the network, its fake
// microphone playing a WAV file (16-bit PCM, looped), screenshots, and the sign-in form.
import { chromium } from "playwright-core";
import { join } from "node:path";

export async function launch(wav) {
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
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args });
}

/// A screenshot of what the page shows now, recorded in `summary.screenshots`.
export async function shot(summary, outDir, page, name) {
  const path = join(outDir, name);
  await page.screenshot({ path, fullPage: false });
  summary.screenshots.push(path);
}

export async function signIn(page, key) {
  await page.fill("#api-key", key);
  await page.click("#sign-in-form button[type=submit]");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
