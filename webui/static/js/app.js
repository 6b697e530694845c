// app.js: starts the web app: logs in with the link's code, loads what the node knows,
// follows the event stream, and wires the status selector, the history search,
// notifications and signing out.

import * as api from "./api.js";
import { $, el, fmtDateTime, highlight, impostorMark, initials, toast } from "./dom.js";
import { changed, conversationOf, nameOf, onChange, putMessage, sameConversation, senderOf, store } from "./store.js";
import { initSidebar, renderSidebar } from "./sidebar.js";
import { initConversation, markReadIfSeen, openConversation, renderConversation } from "./conversation.js";
import { initTransfers, putTransfer, renderTransfers } from "./transfers.js";

let stream = null;
let wired = false; // the page's controls have their handlers

function start() {
  api.onLoggedOut(loggedOut);
  // Another tab of this origin logged in (this one follows) or out (so did the node).
  api.onTokenChange((inNow) => {
    if (inNow) {
      enter();
    } else if (!$("app").hidden) {
      loggedOut("signed-out");
    }
  });
  // A login link opened in this tab changes only the fragment: no new page load.
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#login=")) {
      enter();
    }
  });
  enter();
}

/** enter logs in with the code of the link in the address, if there is one, and
 * shows the app; without a session it shows how to get one. */
async function enter() {
  try {
    await api.login();
  } catch (err) {
    if (!$("app").hidden) {
      toast(err.message); // a used link in a tab that is logged in changes nothing
      return;
    }
    showProblem(err.message);
    if (!api.loggedIn()) {
      return;
    }
  }
  if (!api.loggedIn()) {
    $("login-needed").hidden = false;
    return;
  }
  try {
    store.me = await api.get("/v1/status");
  } catch (err) {
    if (err.status !== 401) {
      showProblem(err.message);
    }
    return;
  }
  $("login-problem").textContent = "";
  $("login-needed").hidden = true;
  $("app").hidden = false;
  $("me").textContent = store.me.name;
  $("you-avatar").textContent = initials(store.me.name);
  $("you-fingerprint").textContent = store.me.fingerprint || "";
  $("you-peer").textContent = store.me.peer_id;
  document.title = `Parley: ${store.me.name}`;
  if (!wired) {
    wired = true;
    initSidebar(openConversation);
    initConversation();
    initTransfers();
    initPresence();
    initSearch();
    initNotifications();
    initSignOut();
    onChange(render);
  }
  if (stream) {
    stream.close();
  }
  stream = api.events(onEvent, onStreamState);
  await loadAll();
}

/** loadAll (re)reads everything, as at start and after the event stream reconnects. */
async function loadAll() {
  const results = await Promise.allSettled([
    api.get("/v1/peers").then((l) => replace(store.peers, l.peers, "peer_id")),
    api.get("/v1/contacts").then((l) => replace(store.contacts, l.contacts, "peer_id")),
    api.get("/v1/history?limit=1000").then((l) => l.messages.forEach(putMessage)),
    api.get("/v1/transfers").then((l) => {
      store.transfers.clear(); // drops provisional entries of sends that finished hashing
      l.transfers.forEach(putTransfer);
    }),
    loadPresence(),
    loadRooms(),
  ]);
  for (const r of results) {
    if (r.status === "rejected" && r.reason.status !== 401) {
      toast(`Could not load everything: ${r.reason.message}`);
    }
  }
  changed();
}

/** loadPresence reads our presence into the form, unless the user picks one meanwhile. */
async function loadPresence() {
  const wish = presenceWish;
  showPresence(await api.get("/v1/presence"), wish);
}

async function loadRooms() {
  try {
    const l = await api.get("/v1/rooms");
    replace(store.rooms, l.rooms || [], "id");
    replace(store.invites, l.invites || [], "id");
    store.roomsSupported = true;
  } catch (err) {
    if (!err.unsupported) {
      throw err;
    }
    store.roomsSupported = false;
  }
}

function replace(map, values, key) {
  map.clear();
  for (const v of values || []) {
    map.set(v[key], v);
  }
}

function render() {
  renderSidebar();
  renderConversation();
  renderTransfers();
}

function onEvent(e) {
  switch (e.type) {
    case "message":
    case "message_state":
      onMessage(e.type, e.message);
      break;
    case "peer":
      onPeer(e.peer);
      break;
    case "transfer":
      putTransfer(e.transfer);
      break;
    case "room":
      onRoom(e);
      break;
  }
  changed();
}

function onMessage(type, m) {
  const isNew = !store.messages.has(m.key);
  putMessage(m);
  if (type !== "message" || !isNew || m.direction !== "in") {
    return;
  }
  if (sameConversation(conversationOf(m), store.current)) {
    markReadIfSeen();
  }
  notify(m);
}

function onPeer(p) {
  store.peers.set(p.peer_id, p);
  const c = store.contacts.get(p.peer_id);
  if (c) {
    store.contacts.set(p.peer_id, { ...c, name: p.name || c.name, display_name: p.display_name || c.display_name, presence: p.presence, status: p.status });
  }
}

function onRoom(e) {
  if (e.invite) {
    store.invites.set(e.invite.id, e.invite);
    toast(`${e.invite.from_name || nameOf(e.invite.from)} invites you to # ${e.invite.name}: Join it under Rooms.`);
  }
  if (e.room) {
    store.rooms.set(e.room.id, e.room);
    store.invites.delete(e.room.id);
  }
  // The event does not say whether a room was joined, changed or left (after a leave
  // it still lists us), so the node's list decides.
  refreshRooms();
}

let roomsRefresh = null;

/** refreshRooms re-reads the rooms, at most one read at a time and one queued. */
function refreshRooms() {
  if (roomsRefresh) {
    roomsRefresh.again = true;
    return;
  }
  roomsRefresh = { again: false };
  loadRooms()
    .catch((err) => toast(`Could not load the rooms: ${err.message}`))
    .finally(() => {
      const again = roomsRefresh.again;
      roomsRefresh = null;
      if (store.current && store.current.kind === "room" && !store.rooms.has(store.current.id)) {
        store.current = null; // left or removed: nothing to show or send to any more
      }
      changed();
      if (again) {
        refreshRooms();
      }
    });
}

function onStreamState(state) {
  const box = $("conn-state");
  if (state === "open") {
    if (box.dataset.state === "reconnecting") {
      loadAll(); // events were missed while the stream was down
    }
    box.textContent = "Connected to your node";
  } else if (state === "reconnecting") {
    box.textContent = "Reconnecting to your node…";
  }
  box.dataset.state = state;
}

const endedBecause = {
  ended: "Your session has ended: it was unused for 12 hours or logged in 7 days ago, " +
    "or someone signed out everywhere.",
  "signed-out": "You signed out.",
  everywhere: "You signed out everywhere: every browser logged in to this node is signed out.",
};

function loggedOut(reason) {
  if (stream) {
    stream.close();
    stream = null;
  }
  const wasIn = !$("app").hidden;
  $("app").hidden = true;
  $("login-needed").hidden = false;
  // A refusal while the app is not shown (a stale token at load, a request that was
  // under way when the user signed out) says nothing new.
  if (wasIn || reason !== "ended") {
    $("login-ended").textContent = endedBecause[reason] || endedBecause.ended;
    $("login-ended").hidden = false;
  }
}

// Signing out: this tab's session, or every web session of the node (as
// `parley web logout` does).
function initSignOut() {
  for (const [id, everywhere] of [["signout-btn", false], ["signout-all-btn", true]]) {
    $(id).addEventListener("click", async () => {
      try {
        await api.signOut(everywhere);
      } catch (err) {
        if (err.status !== 401) {
          toast(`Could not sign out: ${err.message}`);
        }
      }
    });
  }
}

function showProblem(message) {
  $("login-needed").hidden = false;
  $("login-problem").textContent = message;
}

// Status selector. Picking a presence submits the form at once, so a user who picks
// "busy" and then types a status text sends two requests close together. The browser
// may send concurrent requests on different connections and the node keeps whichever
// it handles last, so the page sends one at a time, the newest wish last. An answer
// (or a GET) that started before the newest wish is not shown: it would put the old
// presence back into the form, and a status text being typed is never overwritten.

const presenceSend = { running: false, wanted: null };
let presenceWish = 0; // counts the user's submits: answers from before the last are stale
let statusEdited = false; // the status text was typed into since it was last sent

function initPresence() {
  $("status-text").addEventListener("input", () => {
    statusEdited = true;
  });
  $("presence-form").addEventListener("submit", (e) => {
    e.preventDefault();
    statusEdited = false;
    presenceWish++;
    sendPresence({ presence: $("presence").value, status: $("status-text").value.trim() });
  });
  $("presence").addEventListener("change", () => $("presence-form").requestSubmit());
}

/** sendPresence posts the wanted presence after the one in flight, if any; wishes
 * made meanwhile replace each other, so only the newest is sent. */
async function sendPresence(wanted) {
  presenceSend.wanted = wanted;
  if (presenceSend.running) {
    return;
  }
  presenceSend.running = true;
  try {
    while (presenceSend.wanted) {
      const body = presenceSend.wanted;
      presenceSend.wanted = null;
      const wish = presenceWish;
      try {
        const p = await api.post("/v1/presence", body);
        if (showPresence(p, wish)) {
          toast("Status set.");
        }
      } catch (err) {
        toast(`Could not set the status: ${err.message}`);
      }
    }
  } finally {
    presenceSend.running = false;
  }
}

/** showPresence puts the node's answer p into the form unless the user made a wish
 * after the request for p started (wish is presenceWish at that time); it reports
 * whether it did. */
function showPresence(p, wish) {
  if (wish !== presenceWish) {
    return false;
  }
  store.presence = p;
  $("presence").value = p.presence;
  if (!statusEdited && document.activeElement !== $("status-text")) {
    $("status-text").value = p.status || "";
  }
  return true;
}

// History search.

function initSearch() {
  $("search-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("search").value.trim();
    if (!q) {
      return;
    }
    try {
      const l = await api.get("/v1/history" + api.query({ search: q, limit: 200 }));
      showResults(q, l.messages);
    } catch (err) {
      toast(`Search failed: ${err.message}`);
    }
  });
  $("search-close").addEventListener("click", closeResults);
}

function showResults(q, messages) {
  $("search-title").textContent = `${messages.length} message${messages.length === 1 ? "" : "s"} with “${q}”`;
  $("search-list").replaceChildren(
    ...messages.reverse().map((m) => {
      const conv = conversationOf(m);
      const where = conv.kind === "room" ? "# " + (m.room_name || (store.rooms.get(conv.id) || {}).name || conv.id) : nameOf(conv.id);
      const sender = senderOf(m);
      const who = sender.name;
      return el(
        "li",
        {},
        el(
          "button",
          { type: "button", className: "result", "data-key": m.key, onclick: () => openConversation(conv, m) },
          el("span", { className: "from" }, conv.kind === "room" ? `${who} in ${where}` : m.direction === "out" ? `You to ${where}` : who, impostorMark(sender.warning)),
          el("time", { datetime: m.sent_at }, fmtDateTime(m.sent_at)),
          el("p", { className: "text" }, ...highlight(m.text, q)),
        ),
      );
    }),
  );
  $("conversation").hidden = true;
  $("search-results").hidden = false;
  $("search-title").focus();
}

function closeResults() {
  $("search-results").hidden = true;
  $("conversation").hidden = false;
  $("search").focus();
}

// Desktop notifications, for new messages while the tab is hidden.

function initNotifications() {
  const btn = $("notify-btn");
  if (!("Notification" in window)) {
    btn.hidden = true;
    return;
  }
  const update = () => {
    btn.hidden = Notification.permission !== "default";
  };
  update();
  btn.addEventListener("click", async () => {
    await Notification.requestPermission();
    update();
  });
  // The permission may also change in the browser's own settings.
  navigator.permissions?.query({ name: "notifications" }).then((status) => {
    status.addEventListener("change", update);
  }, () => {});
}

function notify(m) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") {
    return;
  }
  const sender = senderOf(m);
  const who = sender.warning ? `${sender.name} (⚠ possible impostor)` : sender.name;
  const title = m.room ? `${who} in # ${m.room_name || "a room"}` : who;
  const n = new Notification(title, { body: m.text.slice(0, 200), tag: m.key });
  n.onclick = () => {
    window.focus();
    openConversation(conversationOf(m));
    n.close();
  };
}

start();
