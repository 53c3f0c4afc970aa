// Drives the chat server with the official `phoenix` client (unchanged), over `ws` in Node.
//
//   node phoenix_client.mjs <scenario> <ws url, e.g. ws://127.0.0.1:4001/socket>
//
// Prints "STEP <what>" as it goes and "PASS" at the end; exits non-zero on any failure. When a
// scenario needs a process killed, it prints "KILL <what>" and waits for a line on stdin from the
// Rust test that runs it (the server takes no kill orders over the network).
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import readline from "node:readline";

const [scenario, url] = process.argv.slice(2);
const TIMEOUT_MS = 15000;

const stdin = readline.createInterface({ input: process.stdin });
const lines = [];
let lineWaiter = null;
stdin.on("line", (l) => { if (lineWaiter) { const w = lineWaiter; lineWaiter = null; w(l); } else lines.push(l); });

function ask(what) {
  console.log("KILL " + what);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer to KILL " + what)), TIMEOUT_MS);
    const done = (l) => { clearTimeout(t); resolve(l); };
    if (lines.length) done(lines.shift()); else lineWaiter = done;
  });
}

function step(what) { console.log("STEP " + what); }

function fail(msg) { console.error("FAIL " + msg); process.exit(1); }

function waitFor(what, cond) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let v;
      try { v = cond(); } catch (e) { reject(e); return; }
      if (v) { resolve(v); return; }
      if (Date.now() - started > TIMEOUT_MS) { reject(new Error("timed out waiting for " + what)); return; }
      setTimeout(tick, 10);
    };
    tick();
  });
}

function connect(opts = {}) {
  const socket = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 50, ...opts });
  socket.connect();
  return socket;
}

function join(socket, nick, topic = "room:lobby", setup = () => {}) {
  const channel = socket.channel(topic, { nick });
  setup(channel);
  const messages = [];
  const events = [];
  channel.on("new_msg", (m) => messages.push(m));
  channel.on("history", (h) => events.push(["history", h]));
  return new Promise((resolve, reject) => {
    channel.join()
      .receive("ok", () => resolve({ channel, messages, events }))
      .receive("error", (e) => reject(new Error("join refused: " + JSON.stringify(e))))
      .receive("timeout", () => reject(new Error("join timed out")));
  });
}

function push(channel, body) {
  return new Promise((resolve, reject) => {
    channel.push("new_msg", { body })
      .receive("ok", resolve)
      .receive("error", (e) => reject(new Error("push refused: " + JSON.stringify(e))))
      .receive("timeout", () => reject(new Error("push timed out")));
  });
}

const scenarios = {
  async join_push_reply() {
    const s = connect();
    const { channel } = await join(s, "ada");
    step("joined");
    const reply = await push(channel, "hello");
    if (typeof reply.id !== "number") fail("the reply has no id: " + JSON.stringify(reply));
    step("acknowledged " + reply.id);
  },

  async broadcast() {
    const a = await join(connect(), "ada");
    const b = await join(connect(), "bob");
    await push(a.channel, "hi bob");
    await waitFor("bob to get ada's message", () => b.messages.find((m) => m.body === "hi bob" && m.nick === "ada"));
    await push(b.channel, "hi ada");
    await waitFor("ada to get bob's message", () => a.messages.find((m) => m.body === "hi ada" && m.nick === "bob"));
  },

  async history() {
    const a = await join(connect(), "ada", "room:history");
    const sent = await push(a.channel, "remember me");
    const c = await join(connect(), "carol", "room:history");
    const [, h] = await waitFor("the history push", () => c.events.find(([e]) => e === "history"));
    const found = h.messages.find((m) => m.id === sent.id);
    if (!found || found.body !== "remember me" || found.nick !== "ada") fail("history lacks the message: " + JSON.stringify(h));
  },

  async presence() {
    // As in an app, Presence is set up before the join, so it sees the first presence_state.
    let presence;
    let synced = [];
    await join(connect(), "ada", "room:presence", (channel) => {
      presence = new Presence(channel);
      presence.onSync(() => { synced = presence.list((id) => id).sort(); });
    });
    await waitFor("ada to see herself", () => synced.join() === "ada");
    step("ada alone");
    const bobSocket = connect();
    const b = await join(bobSocket, "bob", "room:presence");
    await waitFor("ada to see bob", () => synced.join() === "ada,bob");
    step("both");
    b.channel.leave();
    await waitFor("ada to see bob leave", () => synced.join() === "ada");
    step("bob left");
  },

  async heartbeat() {
    const s = connect({ heartbeatIntervalMs: 100 });
    let replies = 0;
    s.onMessage((m) => { if (m.topic === "phoenix" && m.event === "phx_reply" && m.payload.status === "ok") replies += 1; });
    await waitFor("three heartbeat replies", () => replies >= 3);
    if (!s.isConnected()) fail("the socket dropped");
  },

  async channel_crash() {
    const { channel } = await join(connect(), "ada", "room:crash");
    let errors = 0;
    channel.onError(() => { errors += 1; });
    await ask("channel room:crash");
    await waitFor("phx_error", () => errors >= 1);
    step("errored");
    await waitFor("the automatic rejoin", () => channel.state === "joined");
    step("rejoined");
    await push(channel, "after the crash");
  },

  async socket_kill() {
    const s = connect();
    const { channel } = await join(s, "ada", "room:sockets");
    let closes = 0;
    let opens = 0;
    s.onClose((e) => { closes += 1; if (e.code === 1000) fail("closed with 1000"); });
    s.onOpen(() => { opens += 1; });
    await ask("socket");
    await waitFor("the close", () => closes >= 1);
    step("closed");
    await waitFor("the reconnect", () => opens >= 1 && s.isConnected());
    await waitFor("the rejoin", () => channel.state === "joined");
    step("reconnected");
    await push(channel, "after the reconnect");
  },

  async room_kill() {
    const a = await join(connect(), "ada", "room:kill");
    const b = await join(connect(), "bob", "room:kill");
    await ask("room room:kill");
    step("room killed");
    for (let i = 0; i < 5; i++) {
      await push(a.channel, "a" + i);
      await waitFor("bob to get a" + i, () => b.messages.find((m) => m.body === "a" + i));
      await push(b.channel, "b" + i);
      await waitFor("ada to get b" + i, () => a.messages.find((m) => m.body === "b" + i));
    }
  },
};

const run = scenarios[scenario];
if (!run) fail("no scenario " + scenario + "; have " + Object.keys(scenarios).join(", "));
const timer = setTimeout(() => fail("scenario took too long"), 60000);
run().then(() => { clearTimeout(timer); console.log("PASS"); process.exit(0); }, (e) => fail(e.stack || String(e)));
