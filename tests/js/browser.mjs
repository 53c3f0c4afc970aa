// The chat page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// load it, join a room, exchange messages with a second client (the official phoenix client in
// Node), and see them rendered — as text, never as HTML.
//
//   node browser.mjs <http url> <ws url> <screenshot.png> <http url> <ws url>
//
// The second server summarises rooms above two members: the page, at 400x700, shows "3 here".
//
// Prints "PASS" at the end; exits non-zero on any failure.
import { chromium } from "playwright-core";
import { Socket } from "phoenix";
import WebSocket from "ws";
import readline from "node:readline";

const [httpUrl, wsUrl, screenshot, largeHttpUrl, largeWsUrl] = process.argv.slice(2);
if (!largeHttpUrl || !largeWsUrl) fail("usage: browser.mjs <http> <ws> <png> <large room http> <large room ws>");
const TIMEOUT_MS = 20000;

function fail(msg) { console.error("FAIL " + msg); process.exit(1); }

// Asks the Rust test to do something to the server's processes and waits for its answer.
const input = readline.createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
input.on("line", (l) => { if (waiting) { const w = waiting; waiting = null; w(l); } else answers.push(l); });
function waitForLine(request) {
  console.log(request);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer to " + request)), TIMEOUT_MS);
    const done = (l) => { clearTimeout(t); resolve(l); };
    if (answers.length) done(answers.shift()); else waiting = done;
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  page.setDefaultTimeout(TIMEOUT_MS);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(httpUrl + "/");
  await page.fill("#nick", "ada");
  await page.fill("#room", "browser");
  await page.click("#join");
  await page.waitForSelector("#badge.connected");
  console.log("STEP joined");

  // A second client: the phoenix client in Node.
  const socket = new Socket(wsUrl, { transport: WebSocket });
  socket.connect();
  const channel = socket.channel("room:browser", { nick: "bob" });
  const got = [];
  channel.on("new_msg", (m) => got.push(m));
  await new Promise((resolve, reject) => {
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", () => reject(new Error("join timeout")));
  });
  await page.waitForFunction(() => [...document.querySelectorAll("#presence li")].map((li) => li.textContent).join() === "ada,bob");
  console.log("STEP presence shows both");

  // bob -> page, with markup that must stay text.
  await new Promise((resolve, reject) => {
    channel.push("new_msg", { body: "<b>hello</b> ada" }).receive("ok", resolve).receive("error", reject);
  });
  await page.waitForFunction(() => [...document.querySelectorAll("#messages li .body")].some((b) => b.textContent === "<b>hello</b> ada"));
  if (await page.$("#messages b")) fail("a message was rendered as HTML");
  console.log("STEP page shows bob's message as text");

  // page -> bob.
  await page.fill("#body", "hi bob");
  await page.click("#send");
  const deadline = Date.now() + TIMEOUT_MS;
  while (!got.find((m) => m.body === "hi bob" && m.nick === "ada")) {
    if (Date.now() > deadline) fail("bob never got the page's message");
    await new Promise((r) => setTimeout(r, 20));
  }
  await page.waitForFunction(() => [...document.querySelectorAll("#messages li .body")].some((b) => b.textContent === "hi bob"));
  console.log("STEP bob got the page's message");

  // What a learner sees when processes die: kill the page's socket, then crash its channel.
  socket.disconnect();
  let seen = await page.evaluate(() => window.badgeHistory.length);
  await waitForLine("KILL socket");
  await page.waitForFunction((from) => {
    const h = window.badgeHistory.slice(from);
    const r = h.findIndex((t) => t.startsWith("reconnecting (attempt"));
    return r >= 0 && h.slice(r).includes("rejoined");
  }, seen);
  console.log("STEP the badge followed the socket kill: reconnecting, then rejoined");
  seen = await page.evaluate(() => window.badgeHistory.length);
  await waitForLine("KILL channel room:browser");
  await page.waitForFunction((from) => {
    const h = window.badgeHistory.slice(from);
    const r = h.findIndex((t) => t.startsWith("rejoining (attempt"));
    return r >= 0 && h.slice(r).includes("rejoined");
  }, seen);
  console.log("STEP the badge followed the channel crash: rejoining, then rejoined");
  await page.fill("#body", "still here");
  await page.click("#send");
  await page.waitForFunction(() => [...document.querySelectorAll("#messages li .body")].some((b) => b.textContent === "still here"));

  if (screenshot) await page.screenshot({ path: screenshot });

  // A phone-sized window: no horizontal scroll, the message box in view, the people here shown
  // above the messages.
  await page.setViewportSize({ width: 400, height: 700 });
  const small = await page.evaluate(() => {
    const r = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      width: window.innerWidth,
      height: window.innerHeight,
      input: r("body"),
      send: r("send"),
      presence: r("presence"),
      messages: r("messages"),
    };
  });
  const inView = (b) => b.top >= 0 && b.left >= 0 && b.bottom <= small.height && b.right <= small.width;
  if (small.scrollWidth > small.width || small.bodyScrollWidth > small.width)
    fail("horizontal scroll at 400x700: " + JSON.stringify(small));
  if (!inView(small.input) || !inView(small.send)) fail("the message box is out of view at 400x700: " + JSON.stringify(small));
  if (!(small.presence.bottom <= small.messages.top) || !inView(small.presence))
    fail("the people here are not shown above the messages at 400x700: " + JSON.stringify(small));
  if (screenshot) await page.screenshot({ path: screenshot.replace(/\.png$/, "") + "-400x700.png" });
  console.log("STEP at 400x700: no horizontal scroll, the message box in view");

  // A room above the second server's presence_full_until (2): the page joins, then two Node
  // clients; the room switches to presence_summary and the page shows the count, not names.
  const large = await browser.newPage({ viewport: { width: 400, height: 700 } });
  large.setDefaultTimeout(TIMEOUT_MS);
  large.on("pageerror", (e) => errors.push(String(e)));
  await large.goto(largeHttpUrl + "/");
  await large.fill("#nick", "cy");
  await large.fill("#room", "crowd");
  await large.click("#join");
  await large.waitForSelector("#badge.connected");
  // One socket each: a second join of a topic on one socket replaces the first.
  const crowd = ["dee", "eve"].map(() => new Socket(largeWsUrl, { transport: WebSocket }));
  for (const [i, nick] of ["dee", "eve"].entries()) {
    crowd[i].connect();
    const ch = crowd[i].channel("room:crowd", { nick });
    await new Promise((resolve, reject) => {
      ch.join().receive("ok", resolve).receive("error", reject).receive("timeout", () => reject(new Error("join timeout")));
    });
  }
  await large.waitForFunction(() => {
    const count = document.querySelector("#presence li.count");
    return count && count.textContent === "3 here";
  });
  const crowdView = await large.evaluate(() => {
    const r = document.getElementById("presence").getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, height: window.innerHeight };
  });
  if (crowdView.top < 0 || crowdView.bottom > crowdView.height) fail("\"3 here\" is out of view at 400x700: " + JSON.stringify(crowdView));
  crowd.forEach((c) => c.disconnect());
  if (screenshot) await large.screenshot({ path: screenshot.replace(/\.png$/, "") + "-400x700-crowd.png" });
  console.log("STEP a room above presence_full_until shows \"3 here\" at 400x700");
  if (errors.length) fail("page errors: " + errors.join("; "));
  console.log("PASS");
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(0);
