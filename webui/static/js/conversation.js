// conversation.js: the open chat (with one peer or in a room): its messages with their
// state, the composer, and the peer's safety number or the room's invite and leave.

import * as api from "./api.js";
import { $, dayKey, dayLabel, el, fmtClock, fmtDateTime, impostorMark, initials, presenceBadge, toast } from "./dom.js";
import {
  changed, impostorWarning, isMe, memberPresence, messagesOf, nameOf, presenceOf, putMessage, sameConversation, senderOf, store, unreadIn,
} from "./store.js";

const items = new Map(); // message key (or "day:…", "unread") → its <li> in #messages
let unreadMarker = ""; // key of the first message that was unread when the chat was opened or seen
let focusKey = ""; // a message to show (from a search result) once the history is in
const groupWithin = 5 * 60 * 1000; // one author's messages this close in time are one group

const stateLabels = {
  queued: "Queued: will be delivered when they are online",
  held: "Held at a mailbox until they are online",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Failed",
  received: "",
};
const stateIcons = { queued: "🕓", held: "📬", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

export function initConversation() {
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendComposed();
  });
  $("composer-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendComposed();
    }
  });
  $("safety-btn").addEventListener("click", showSafetyNumber);
  $("safety-close").addEventListener("click", () => $("safety-dialog").close());
  $("safety-verify").addEventListener("click", markVerified);
  $("room-invite-btn").addEventListener("click", showInvite);
  $("invite-form").addEventListener("submit", invite);
  $("invite-cancel").addEventListener("click", () => $("invite-dialog").close());
  $("room-leave-btn").addEventListener("click", leaveRoom);
  $("jump-unread").addEventListener("click", jumpToUnread);
  document.addEventListener("visibilitychange", () => markReadIfSeen(true));
}

/** openConversation shows conv and loads its history; with show (a message from a
 * search result), it scrolls to that message and puts the focus on it. */
export async function openConversation(conv, show) {
  store.current = conv;
  items.clear();
  unreadMarker = "";
  focusKey = show ? show.key : "";
  if (show) {
    putMessage(show); // shown even if it is older than the history loaded below
  }
  $("messages").replaceChildren();
  $("search-results").hidden = true;
  $("conversation").hidden = false;
  changed();
  renderConversation(); // now, so the composer is on or off before it gets the focus
  if ($("composer-text").disabled) {
    $("conversation").focus(); // a room only owners post in: its messages are what is left
  } else {
    $("composer-text").focus();
  }
  const peer = conv.kind === "peer" ? conv.id : "#" + conv.id;
  try {
    const list = await api.get("/v1/history" + api.query({ peer, limit: 500 }));
    list.messages.forEach(putMessage);
    changed();
  } catch (err) {
    toast(`Could not load the history: ${err.message}`);
  }
  markReadIfSeen(true);
  renderConversation();
  showFocused();
}

/** showFocused scrolls to the message a search result asked for and focuses it. */
function showFocused() {
  const li = focusKey && items.get(focusKey);
  if (!li) {
    return;
  }
  focusKey = "";
  li.classList.add("found");
  li.tabIndex = -1;
  li.scrollIntoView({ block: "center" });
  li.focus();
}

function jumpToUnread() {
  const li = items.get("unread");
  if (li) {
    li.scrollIntoView({ block: "start" });
    li.focus();
  }
}

/** markReadIfSeen tells the node the open chat's messages were read, if the user can
 * see them. A room is named "#<id>"; rooms send no receipts, the node only counts.
 * With placeMarker (the chat was just opened, or the tab shown again), the first of
 * them gets the "New messages" marker; a message read as it arrives gets none. */
export async function markReadIfSeen(placeMarker = false) {
  const conv = store.current;
  if (document.hidden || !conv || unreadIn(conv) === 0) {
    return;
  }
  if (placeMarker === true) {
    const first = messagesOf(conv).find((m) => m.direction === "in" && m.state === "received");
    if (first && first.key !== unreadMarker) {
      unreadMarker = first.key;
      items.delete("unread"); // a new marker, scrolled to once
    }
  }
  try {
    await api.post("/v1/read", { peer: conv.kind === "room" ? "#" + conv.id : conv.id });
    for (const m of store.messages.values()) {
      if (m.direction === "in" && m.state === "received" && sameConversation(conversationOfRead(m), conv)) {
        store.messages.set(m.key, { ...m, state: "read" });
      }
    }
    changed();
  } catch (err) {
    console.warn("marking read failed", err);
  }
}

function conversationOfRead(m) {
  return m.room ? { kind: "room", id: m.room } : { kind: "peer", id: m.from };
}

export function renderConversation() {
  const conv = store.current;
  $("composer").hidden = !conv;
  $("conv-actions").hidden = !conv;
  if (!conv) {
    $("conv-title").textContent = "Choose a conversation";
    $("conv-sub").replaceChildren("Pick a contact, a room or someone nearby on the left.");
    return;
  }
  renderHeader(conv);
  renderMessages(conv);
}

function renderHeader(conv) {
  const isRoom = conv.kind === "room";
  $("safety-btn").hidden = isRoom;
  $("room-leave-btn").hidden = !isRoom;
  $("file-btn").disabled = isRoom;
  $("file-btn").title = isRoom ? "Files go to one person: open a chat with them" : "";
  if (isRoom) {
    renderRoomHeader(conv.id);
    return;
  }
  $("room-invite-btn").hidden = true;
  setComposerNote("");
  shownHeader = "";
  const { presence, status } = presenceOf(conv.id);
  const impostor = impostorWarning(conv.id);
  $("conv-title").replaceChildren(...[nameOf(conv.id), impostorMark(impostor)].filter(Boolean));
  $("conv-sub").replaceChildren(presenceBadge(presence), status ? ` ${status}` : "",
    impostor ? el("p", { className: "warning" }, "⚠ " + impostor) : "");
  $("composer-text").setAttribute("aria-label", `Message to ${nameOf(conv.id)}`);
}

let shownHeader = ""; // what the room header shows, to leave it (and its focus) alone

/** renderRoomHeader shows the room's members with their presence, with Remove buttons
 * for owners, and says so when only owners may post. */
function renderRoomHeader(roomID) {
  const room = store.rooms.get(roomID);
  $("room-invite-btn").hidden = !room || !room.owner;
  const readOnly = !!room && room.announce && !room.owner;
  setComposerNote(readOnly ? `Only the owners post in the announcement room # ${room.name}; you can read it.` : "");
  $("composer-text").setAttribute("aria-label", `Message to # ${room ? room.name : roomID}`);
  const members = room ? room.members || [] : [];
  const key = JSON.stringify([roomID, room && room.name, room && room.owner,
    members.map((m) => [m.peer_id, m.owner, nameOf(m.peer_id), memberPresence(m), impostorWarning(m.peer_id)])]);
  if (key === shownHeader) {
    return;
  }
  shownHeader = key;
  $("conv-title").textContent = "# " + (room ? room.name : roomID);
  if (!room) {
    $("conv-sub").replaceChildren("You are not in this room any more.");
    return;
  }
  $("conv-sub").replaceChildren(
    el("span", { className: "visually-hidden" }, "Members:"),
    el("ul", { className: "members", "aria-label": `Members of # ${room.name}` }, ...members.map((m) => memberItem(room, m))),
  );
}

function memberItem(room, m) {
  const me = isMe(m.peer_id);
  const name = me ? "You" : m.name || nameOf(m.peer_id);
  return el(
    "li",
    { "data-peer": m.peer_id, "data-presence": memberPresence(m) },
    el("span", { className: "name" }, name),
    impostorMark(me ? "" : impostorWarning(m.peer_id)),
    m.owner ? el("span", { className: "owner" }, " (owner)") : null,
    " ",
    presenceBadge(memberPresence(m)),
    room.owner && !me
      ? el("button", { type: "button", className: "remove", "aria-label": `Remove ${name} from # ${room.name}`, onclick: () => removeMember(room, m) }, "Remove")
      : null,
  );
}

/** setComposerNote shows why the composer is off, or turns it back on for "". */
function setComposerNote(note) {
  const box = $("composer-text");
  $("composer-note").textContent = note;
  $("composer-note").hidden = !note;
  box.disabled = !!note;
  $("composer-send").disabled = !!note;
  if (note) {
    box.setAttribute("aria-describedby", "composer-note");
  } else {
    box.removeAttribute("aria-describedby");
  }
}

/** renderMessages keeps #messages in the node's order, with a separator before each
 * new day and before the first unread message, and one author's consecutive messages
 * grouped under one name and avatar. Items are kept and moved, never rebuilt, so the
 * focus and screen readers' place stay. */
function renderMessages(conv) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const messages = messagesOf(conv);
  const want = [];
  let last = null;
  for (const m of messages) {
    const day = dayKey(m.sent_at);
    if (!last || dayKey(last.sent_at) !== day) {
      want.push(separator("day:" + day, "day", dayLabel(m.sent_at)));
    }
    if (m.key === unreadMarker) {
      want.push(separator("unread", "unread-marker", "New messages"));
    }
    const li = messageLi(m);
    const grouped = !!last && m.key !== unreadMarker && sameAuthor(last, m) && dayKey(last.sent_at) === day &&
      Math.abs(Date.parse(m.sent_at) - Date.parse(last.sent_at)) < groupWithin;
    li.classList.toggle("grouped", grouped);
    want.push(li);
    last = m;
  }
  let prev = null;
  for (const li of want) {
    const at = prev ? prev.nextSibling : list.firstChild;
    if (at !== li) {
      list.insertBefore(li, at);
    }
    prev = li;
  }
  const keep = new Set(want);
  [...list.children].forEach((n) => {
    if (!keep.has(n) && !n.classList.contains("empty")) {
      n.remove();
    }
  });
  $("jump-unread").hidden = !items.has("unread") || !unreadMarker;
  if (messages.length === 0) {
    const note = $("composer-text").disabled ? "No announcements yet." : "No messages yet. Say hello!";
    const shown = list.querySelector("li.empty");
    if (!shown || shown.textContent !== note) { // left alone, screen readers hear it once
      list.replaceChildren(el("li", { className: "empty" }, note));
    }
  } else {
    list.querySelectorAll("li.empty").forEach((n) => n.remove());
  }
  if (atBottom && !focusKey) {
    const marker = items.get("unread");
    if (marker && !marker.dataset.shown) {
      marker.dataset.shown = "1";
      marker.scrollIntoView({ block: "start" }); // the first unread, not the newest
    } else if (!marker || marker.dataset.shown) {
      list.scrollTop = list.scrollHeight;
    }
  }
}

function sameAuthor(a, b) {
  return a.direction === b.direction && a.from === b.from;
}

/** separator is the <li> of a day or the unread marker, kept by key. */
function separator(key, className, label) {
  let li = items.get(key);
  if (!li) {
    li = el("li", { className: `separator ${className}`, role: "separator", "aria-label": label, tabindex: "-1" }, el("span", {}, label));
    items.set(key, li);
  } else if (li.textContent !== label) {
    li.setAttribute("aria-label", label);
    li.firstChild.textContent = label;
  }
  return li;
}

/** messageLi is m's <li>, made once and updated when its state changes. */
function messageLi(m) {
  let li = items.get(m.key);
  if (!li) {
    li = messageItem(m);
    items.set(m.key, li);
  } else if (li.dataset.state !== m.state) {
    li.dataset.state = m.state;
    li.querySelector(".state").replaceChildren(...stateBadge(m));
  }
  return li;
}

function messageItem(m) {
  const from = senderOf(m);
  return el(
    "li",
    { className: `message ${m.direction}`, "data-id": m.id, "data-key": m.key, "data-state": m.state, "data-impostor": from.warning ? "true" : false },
    m.direction === "in" ? el("span", { className: "avatar", "aria-hidden": "true", "data-initials": initials(from.name) }, initials(from.name)) : null,
    el("span", { className: "from" }, from.name, impostorMark(from.warning)),
    el("p", { className: "text" }, m.text),
    el("time", { datetime: m.sent_at, title: fmtDateTime(m.sent_at) }, fmtClock(m.sent_at)),
    el("span", { className: "state" }, ...stateBadge(m)),
  );
}

function stateBadge(m) {
  if (m.direction !== "out") {
    return [];
  }
  const label = stateLabels[m.state] || m.state;
  const where = m.state === "held" && m.held_at ? ` (mailbox ${m.held_at.map((p) => p.slice(-6)).join(", ")})` : "";
  return [el("span", { "aria-hidden": "true", title: label + where }, stateIcons[m.state] || m.state), el("span", { className: "visually-hidden" }, label + where)];
}

async function sendComposed() {
  const box = $("composer-text");
  const text = box.value.trim();
  const conv = store.current;
  if (!text || !conv) {
    return;
  }
  box.value = "";
  const to = conv.kind === "room" ? "#" + conv.id : conv.id;
  try {
    const res = await api.post("/v1/send", { to, text });
    putMessage(res.message);
    changed();
    if (res.error) {
      toast(`Not delivered yet: ${res.error}`);
    }
  } catch (err) {
    if (sameConversation(store.current, conv) && box.value === "") {
      box.value = text; // give the words back to try again
    }
    toast(`Could not send: ${err.message}`);
  }
}

async function showSafetyNumber() {
  const peer = store.current.id;
  const number = $("safety-number");
  const verify = $("safety-verify");
  $("safety-title").textContent = `Safety number with ${nameOf(peer)}`;
  number.textContent = "…";
  verify.hidden = true;
  $("safety-dialog").showModal();
  try {
    const v = await api.get(`/v1/contacts/${encodeURIComponent(peer)}/verify`);
    number.textContent = v.safety_number;
    $("safety-body").textContent = v.verified
      ? "You verified this number: it matches what they see."
      : "Compare this number with what they see on their screen, in person or on a call you trust. If it matches, mark it verified.";
    verify.hidden = v.verified;
  } catch (err) {
    number.textContent = "";
    $("safety-body").textContent = err.unsupported
      ? "This node cannot show safety numbers yet: it needs a newer Parley."
      : `No safety number: ${err.message}`;
  }
}

async function markVerified() {
  const peer = store.current.id;
  try {
    await api.post(`/v1/contacts/${encodeURIComponent(peer)}/verify`);
    const c = store.contacts.get(peer);
    if (c) {
      store.contacts.set(peer, { ...c, verified: true });
    }
    $("safety-verify").hidden = true;
    $("safety-body").textContent = `Marked verified. ${nameOf(peer)} shows a ✓ in your contacts.`;
    changed();
  } catch (err) {
    $("safety-body").textContent = `Could not mark it verified: ${err.message}`;
  }
}

function showInvite() {
  const room = store.rooms.get(store.current.id);
  const members = new Set(room ? room.members.map((m) => m.peer_id) : []);
  const ids = new Set([...store.contacts.keys(), ...store.peers.keys()]);
  const options = [...ids].filter((id) => !members.has(id) && !(store.contacts.get(id) || {}).blocked);
  options.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  $("invite-peer").replaceChildren(
    ...options.map((id) => el("option", { value: id },
      (store.contacts.get(id) || {}).contact ? `${nameOf(id)} (contact)` : impostorWarning(id) ? `${nameOf(id)} (⚠ possible impostor)` : nameOf(id))),
  );
  $("invite-peer").disabled = options.length === 0;
  $("invite-submit").disabled = options.length === 0;
  $("invite-note").textContent = options.length === 0
    ? "Everyone this node knows is in the room already: people appear here once seen nearby or added as contacts."
    : "Contacts join at once; others see an invitation to accept.";
  $("invite-dialog").showModal();
}

async function invite(e) {
  e.preventDefault();
  const roomID = store.current.id;
  const peer = $("invite-peer").value;
  $("invite-dialog").close();
  try {
    const room = await api.post(`/v1/rooms/${encodeURIComponent(roomID)}/invite`, { peer });
    store.rooms.set(room.id, room);
    changed();
    toast(`Invited ${nameOf(peer)}.`);
  } catch (err) {
    toast(`Could not invite: ${err.message}`);
  }
}

async function leaveRoom() {
  const room = store.rooms.get(store.current.id);
  if (!room || !confirm(`Leave # ${room.name}? You stop receiving its messages.`)) {
    return;
  }
  try {
    await api.post(`/v1/rooms/${encodeURIComponent(room.id)}/leave`);
    store.rooms.delete(room.id);
    store.current = null;
    changed();
    toast(`You left # ${room.name}.`);
  } catch (err) {
    toast(`Could not leave: ${err.message}`);
  }
}

async function removeMember(room, m) {
  const name = m.name || nameOf(m.peer_id);
  if (!confirm(`Remove ${name} from # ${room.name}? The room gets a new key they do not have.`)) {
    return;
  }
  try {
    const next = await api.post(`/v1/rooms/${encodeURIComponent(room.id)}/remove`, { peer: m.peer_id });
    store.rooms.set(next.id, next);
    changed();
    toast(`Removed ${name} from # ${room.name}.`);
  } catch (err) {
    toast(`Could not remove ${name}: ${err.message}`);
  }
}
