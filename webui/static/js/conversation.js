// conversation.js: the open chat (with one peer or in a room): its messages with their
// state, the composer, and the peer's safety number or the room's invite and leave.

import * as api from "./api.js";
import { $, el, fmtTime, presenceBadge, toast } from "./dom.js";
import { changed, isMe, memberPresence, messagesOf, nameOf, presenceOf, putMessage, sameConversation, store, unreadIn } from "./store.js";

const items = new Map(); // message key → its <li> in #messages

const stateLabels = {
  queued: "Queued: will be delivered when they are online",
  held: "Held at their mailbox: they get it when they are back",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Failed",
  received: "",
};
const stateIcons = { queued: "🕓", held: "📬", sent: "✓", delivered: "✓✓", read: "✓✓ read", failed: "⚠ failed" };

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
  document.addEventListener("visibilitychange", markReadIfSeen);
}

/** openConversation shows conv and loads its history. */
export async function openConversation(conv) {
  store.current = conv;
  items.clear();
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
  markReadIfSeen();
}

/** markReadIfSeen tells the node the open chat's messages were read, if the user can
 * see them. A room is named "#<id>"; rooms send no receipts, the node only counts. */
export async function markReadIfSeen() {
  const conv = store.current;
  if (document.hidden || !conv || unreadIn(conv) === 0) {
    return;
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
  $("conv-title").textContent = nameOf(conv.id);
  $("conv-sub").replaceChildren(presenceBadge(presence), status ? ` ${status}` : "");
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
  const key = JSON.stringify([roomID, room && room.name, room && room.owner, members.map((m) => [m.peer_id, m.owner, nameOf(m.peer_id), memberPresence(m)])]);
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

function renderMessages(conv) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  let prev = null;
  const messages = messagesOf(conv);
  for (const m of messages) {
    let li = items.get(m.key);
    if (!li) {
      li = messageItem(m);
      items.set(m.key, li);
    } else if (li.dataset.state !== m.state) {
      li.dataset.state = m.state;
      li.querySelector(".state").replaceChildren(...stateBadge(m));
    }
    const want = prev ? prev.nextSibling : list.firstChild;
    if (want !== li) {
      list.insertBefore(li, want);
    }
    prev = li;
  }
  if (messages.length === 0) {
    const note = $("composer-text").disabled ? "No announcements yet." : "No messages yet. Say hello!";
    const shown = list.querySelector("li.empty");
    if (!shown || shown.textContent !== note) { // left alone, screen readers hear it once
      list.replaceChildren(el("li", { className: "empty" }, note));
    }
  } else {
    list.querySelectorAll("li.empty").forEach((n) => n.remove());
  }
  if (atBottom) {
    list.scrollTop = list.scrollHeight;
  }
}

function messageItem(m) {
  const from = m.direction === "out" ? "You" : m.from_name || nameOf(m.from);
  return el(
    "li",
    { className: `message ${m.direction}`, "data-id": m.id, "data-state": m.state },
    el("span", { className: "from" }, from),
    el("p", { className: "text" }, m.text),
    el("time", { datetime: m.sent_at }, fmtTime(m.sent_at)),
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
    ...options.map((id) => el("option", { value: id }, (store.contacts.get(id) || {}).contact ? `${nameOf(id)} (contact)` : nameOf(id))),
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
