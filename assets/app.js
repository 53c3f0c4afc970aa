// The Crashcourse chat page: a small Phoenix Channels V2 client written for this page (no
// third-party code), so a learner can watch it reconnect and rejoin when processes are killed.
// Messages are rendered as text, never as HTML.
"use strict";

const RECONNECT_MS = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const REJOIN_MS = [1000, 2000, 5000];
const HEARTBEAT_MS = 30000;

const $ = (id) => document.getElementById(id);

class PhoenixSocket {
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.ref = 0;
    this.channels = new Map();
    this.attempts = 0;
    this.ws = null;
    this.heartbeat = null;
    this.pendingHeartbeat = null;
  }

  nextRef() { this.ref += 1; return String(this.ref); }

  connect() {
    const ws = new WebSocket(this.url + "/websocket?vsn=2.0.0");
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.hooks.onOpen();
      this.heartbeat = setInterval(() => this.sendHeartbeat(), HEARTBEAT_MS);
      for (const ch of this.channels.values()) ch.join();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      clearInterval(this.heartbeat);
      this.pendingHeartbeat = null;
      for (const ch of this.channels.values()) ch.socketClosed();
      if (ev.code === 1000) { this.hooks.onClosed(ev); return; }
      const delay = this.attempts < RECONNECT_MS.length ? RECONNECT_MS[this.attempts] : 5000;
      this.attempts += 1;
      this.hooks.onReconnecting(this.attempts, ev);
      setTimeout(() => this.connect(), delay);
    };
  }

  sendHeartbeat() {
    if (this.pendingHeartbeat) { this.ws.close(4000, "heartbeat timeout"); return; }
    this.pendingHeartbeat = this.nextRef();
    this.send(null, this.pendingHeartbeat, "phoenix", "heartbeat", {});
  }

  send(joinRef, ref, topic, event, payload) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
      return true;
    }
    return false;
  }

  receive(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    const [joinRef, ref, topic, event, payload] = frame;
    if (topic === "phoenix" && ref === this.pendingHeartbeat) { this.pendingHeartbeat = null; return; }
    const ch = this.channels.get(topic);
    if (ch) ch.receive(joinRef, ref, event, payload);
  }

  channel(topic, params, hooks) {
    const ch = new Channel(this, topic, params, hooks);
    this.channels.set(topic, ch);
    return ch;
  }
}

class Channel {
  constructor(socket, topic, params, hooks) {
    this.socket = socket;
    this.topic = topic;
    this.params = params;
    this.hooks = hooks;
    this.joinRef = null;
    this.state = "closed";
    this.replies = new Map();
    this.rejoinAttempts = 0;
    this.rejoinTimer = null;
    this.joinedOnce = false;
  }

  join() {
    clearTimeout(this.rejoinTimer);
    this.joinRef = this.socket.nextRef();
    this.state = "joining";
    this.replies.set(this.joinRef, (status, response) => {
      if (status === "ok") {
        this.state = "joined";
        this.rejoinAttempts = 0;
        this.hooks.onJoined(this.joinedOnce);
        this.joinedOnce = true;
      } else {
        this.state = "errored";
        this.hooks.onJoinError(response && response.reason);
      }
    });
    this.socket.send(this.joinRef, this.joinRef, this.topic, "phx_join", this.params);
  }

  push(event, payload, onReply) {
    const ref = this.socket.nextRef();
    this.replies.set(ref, onReply);
    if (!this.socket.send(this.joinRef, ref, this.topic, event, payload)) {
      this.replies.delete(ref);
      onReply("error", { reason: "not connected" });
    }
  }

  receive(joinRef, ref, event, payload) {
    // Drop anything from an earlier join of this topic.
    if (joinRef && joinRef !== this.joinRef) return;
    if (event === "phx_reply") {
      const cb = this.replies.get(ref);
      if (cb) { this.replies.delete(ref); cb(payload.status, payload.response); }
      return;
    }
    if (event === "phx_error") { this.errored(); return; }
    if (event === "phx_close") { this.state = "closed"; return; }
    this.hooks.onEvent(event, payload);
  }

  errored() {
    this.state = "errored";
    this.replies.clear();
    const delay = REJOIN_MS[Math.min(this.rejoinAttempts, REJOIN_MS.length - 1)] || 10000;
    this.rejoinAttempts += 1;
    this.hooks.onRejoining(this.rejoinAttempts);
    this.rejoinTimer = setTimeout(() => this.join(), this.rejoinAttempts > REJOIN_MS.length ? 10000 : delay);
  }

  socketClosed() {
    clearTimeout(this.rejoinTimer);
    this.state = "errored";
    this.replies.clear();
  }
}

// ----- presence (same rules as phoenix.js: metas matched by phx_ref) -----

class Presence {
  constructor() { this.state = {}; this.pending = []; this.synced = false; }

  reset() { this.state = {}; this.pending = []; this.synced = false; }

  setState(state) {
    this.state = JSON.parse(JSON.stringify(state));
    this.synced = true;
    for (const diff of this.pending) this.applyDiff(diff);
    this.pending = [];
  }

  diff(diff) {
    if (!this.synced) { this.pending.push(diff); return; }
    this.applyDiff(diff);
  }

  applyDiff({ joins, leaves }) {
    for (const [key, presence] of Object.entries(joins || {})) {
      const current = this.state[key];
      const refs = new Set(presence.metas.map((m) => m.phx_ref));
      const kept = current ? current.metas.filter((m) => !refs.has(m.phx_ref)) : [];
      this.state[key] = { metas: kept.concat(presence.metas) };
    }
    for (const [key, presence] of Object.entries(leaves || {})) {
      const current = this.state[key];
      if (!current) continue;
      const refs = new Set(presence.metas.map((m) => m.phx_ref));
      current.metas = current.metas.filter((m) => !refs.has(m.phx_ref));
      if (current.metas.length === 0) delete this.state[key];
    }
  }

  names() { return Object.keys(this.state).sort(); }
}

// ----- the page -----

const presence = new Presence();
let socket = null;
let channel = null;

// Every state the badge has shown, oldest first (tests read it; it is cheap).
const badgeHistory = [];
window.badgeHistory = badgeHistory;

function setBadge(kind, text) {
  badgeHistory.push(text);
  const badge = $("badge");
  badge.className = "badge " + kind;
  badge.textContent = text;
}

function showError(text) { $("error").textContent = text || ""; }

function addMessage(m) {
  const li = document.createElement("li");
  const at = document.createElement("span");
  at.className = "at";
  at.textContent = m.at ? new Date(m.at).toLocaleTimeString() : "";
  const nick = document.createElement("span");
  nick.className = "nick";
  nick.textContent = m.nick;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.body;
  li.append(at, nick, body);
  li.dataset.id = String(m.id);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  $("messages").append(li);
}

function renderPresence() {
  const list = $("presence");
  list.replaceChildren(...presence.names().map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  }));
}

function enableSending(on) {
  $("body").disabled = !on;
  $("send").disabled = !on;
}

async function start(nick, room) {
  const config = await (await fetch("/api/config")).json();
  const topic = "room:" + room;
  $("room-title").textContent = topic;
  $("messages").replaceChildren();
  presence.reset();
  renderPresence();
  socket = new PhoenixSocket(config.ws_url, {
    onOpen() { setBadge("connected", "connected"); },
    onReconnecting(attempt) {
      setBadge("reconnecting", "reconnecting (attempt " + attempt + ")");
      enableSending(false);
    },
    onClosed() { setBadge("offline", "offline"); enableSending(false); },
  });
  channel = socket.channel(topic, { nick }, {
    onJoined(rejoin) {
      showError("");
      presence.reset();
      setBadge(rejoin ? "rejoined" : "connected", rejoin ? "rejoined" : "connected");
      if (rejoin) notice("rejoined " + topic);
      enableSending(true);
    },
    onJoinError(reason) { showError("could not join: " + reason); enableSending(false); },
    onRejoining(attempt) {
      setBadge("rejoining", "rejoining (attempt " + attempt + ")");
      notice("the channel crashed; rejoining");
      enableSending(false);
    },
    onEvent(event, payload) {
      if (event === "new_msg") addMessage(payload);
      else if (event === "history") {
        $("messages").replaceChildren();
        payload.messages.forEach(addMessage);
      } else if (event === "presence_state") { presence.setState(payload); renderPresence(); }
      else if (event === "presence_diff") { presence.diff(payload); renderPresence(); }
    },
  });
  socket.connect();
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (socket) return;
  const nick = $("nick").value.trim();
  const room = $("room").value.trim();
  if (!nick || !room) return;
  $("join").disabled = true;
  start(nick, room).catch((e) => showError("could not start: " + e));
});

$("send-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const body = $("body").value;
  if (!body || !channel || channel.state !== "joined") return;
  channel.push("new_msg", { body }, (status, response) => {
    if (status === "ok") { $("body").value = ""; showError(""); }
    else showError("not sent: " + ((response && response.reason) || status));
  });
});

// A link such as /?room=kitchen (what the app's lessons open) pre-fills the room field.
{
  const wanted = new URLSearchParams(window.location.search).get("room");
  if (wanted && /^[A-Za-z0-9_-]{1,64}$/.test(wanted)) $("room").value = wanted;
}
