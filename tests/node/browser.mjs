// What the browser flows share: their input, their checks, and Debian's Chromium (playwright-core downloads no
// browser of its own) with a page that records script errors and saves screenshots.
import { chromium } from "playwright-core";

/** The flow's input: JSON on stdin. */
export async function readInput() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

/** Fails the flow unless `cond`; says what passed, so that a failure's output shows how far it got. */
export function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
  console.log(`ok: ${what}`);
}

/**
 * Runs `flow({ page, context, errors, watch, shot })` in a fresh headless Chromium, then checks that no script or
 * console error was recorded, and closes the browser whatever happened.
 * - `watch(p)` records the errors of another page `p` too (the flow's first page is watched already).
 * - `shot(name, target = page)` saves a full-page screenshot when `screenshots` names a folder.
 * - `failedLoadsAllowed`: a 4xx the flow asks for on purpose logs "Failed to load resource"; that is not an error.
 */
export async function inBrowser({ screenshots = null, viewport = { width: 1280, height: 860 }, failedLoadsAllowed = false }, flow) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const errors = [];
    const watch = (p) => {
      p.on("pageerror", (e) => errors.push(e.message));
      p.on("console", (m) => {
        if (m.type() !== "error") return;
        if (failedLoadsAllowed && m.text().startsWith("Failed to load resource")) return;
        errors.push(m.text());
      });
    };
    watch(page);
    const shot = async (name, target = page) => {
      if (screenshots) await target.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
    };
    await flow({ page, context, errors, watch, shot });
    check(errors.length === 0, `no script or console errors (${errors.join("; ")})`);
  } finally {
    await browser.close();
  }
}

/** Logs in to the dashboard with an API token and lands on the overview. */
export async function logIn(page, base, token) {
  await page.goto(`${base}/ui/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click("button[type=submit]")]);
}
