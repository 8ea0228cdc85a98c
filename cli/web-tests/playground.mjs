// The playground in headless Debian chromium: choose an image, ask, watch the answer stream and the boxes appear.
// Prints one JSON object on stdout: {answer, textUpdates, boxes: [{label, left, top, width, height}], timings, finish}.
// Usage: node playground.mjs URL IMAGE_FILE QUESTION SCREENSHOT_FILE   (CHROMIUM overrides /usr/bin/chromium)
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, imageFile, question, screenshot] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "tandem-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 800 },
  // no network but localhost here: keep chromium from calling home at every start
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  const failed = [];
  page.on("requestfailed", (r) => failed.push(r.url()));
  page.on("pageerror", (e) => failed.push("page error: " + e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("model: ") &&
    !document.getElementById("model").textContent.includes("…"));
  await page.setInputFiles("#file", imageFile);
  await page.waitForSelector("#stage:not([hidden]) img[src^='data:image/']");
  await page.fill("#question", question);
  // count the distinct states the answer passes through while it streams
  await page.evaluate(() => {
    window.__updates = [];
    new MutationObserver(() => window.__updates.push(document.getElementById("answer").textContent))
      .observe(document.getElementById("answer"), { childList: true, characterData: true, subtree: true });
  });
  await page.click("#send");
  await page.waitForSelector("#boxes .box", { timeout: 60_000 });
  await page.waitForSelector("#timings:not([hidden])", { timeout: 60_000 });
  await page.waitForFunction(() => !document.getElementById("send").disabled);
  const result = await page.evaluate(() => {
    const stage = document.getElementById("stage").getBoundingClientRect();
    return {
      answer: document.getElementById("answer").textContent,
      textUpdates: new Set(window.__updates.filter((t) => t.length > 0)).size,
      finish: document.getElementById("finish").textContent,
      error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
      timings: [...document.querySelectorAll("#timings td:first-child")].map((td) => td.textContent),
      boxes: [...document.querySelectorAll("#boxes .box")].map((b) => {
        const r = b.getBoundingClientRect();
        return { label: b.querySelector(".label").textContent, left: (r.left - stage.left) / stage.width,
          top: (r.top - stage.top) / stage.height, width: r.width / stage.width, height: r.height / stage.height };
      }),
    };
  });
  result.failedRequests = failed;
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true }); // the throwaway profile (a few MB a run)
}
