// sidebar.js: the list of conversations: contacts in their groups, rooms and invites,
// and people discovered nearby who are not contacts yet.

import * as api from "./api.js";
import { $, el, impostorMark, presenceBadge, toast } from "./dom.js";
import { changed, impostorWarning, memberPresence, nameOf, presenceOf, sameConversation, store, unreadFrom, unreadInRoom } from "./store.js";

let openConversation = () => {};

/** initSidebar wires the room form; open(conv) is called when the user picks one. */
export function initSidebar(open) {
  openConversation = open;
  $("room-create").addEventListener("submit", createRoom);
}

export function renderSidebar() {
  keepFocus(() => {
    renderContacts();
    renderRooms();
    renderNearby();
  });
}

/** keepFocus re-renders without losing the keyboard focus: the button that had it is
 * found again by its section, peer or room, and class. */
function keepFocus(render) {
  const a = document.activeElement;
  const li = a && a.closest ? a.closest("#sidebar li[data-peer], #sidebar li[data-room]") : null;
  if (!li) {
    render();
    return;
  }
  const section = li.closest("section").id;
  const key = li.dataset.peer ? `[data-peer="${li.dataset.peer}"]` : `[data-room="${li.dataset.room}"]`;
  const cls = a.classList[0];
  render();
  const again = document.querySelector(`#${section} li${key} ${a.tagName.toLowerCase()}${cls ? "." + cls : ""}`);
  if (again) {
    again.focus();
  }
}

function renderContacts() {
  const groups = new Map();
  for (const c of store.contacts.values()) {
    if (!c.contact || c.blocked) {
      continue;
    }
    const g = c.group || "Contacts";
    if (!groups.has(g)) {
      groups.set(g, []);
    }
    groups.get(g).push(c.peer_id);
  }
  const box = $("contacts");
  if (groups.size === 0) {
    box.replaceChildren(el("p", { className: "empty" }, "No contacts yet: add someone from People nearby."));
    return;
  }
  const names = [...groups.keys()].sort((a, b) => a.localeCompare(b));
  box.replaceChildren(
    ...names.map((g) =>
      el(
        "div",
        { className: "group", role: "group", "aria-label": g },
        names.length > 1 || g !== "Contacts" ? el("h3", {}, g) : null,
        el("ul", { className: "conversations" }, ...sortByName(groups.get(g)).map(peerItem)),
      ),
    ),
  );
}

function sortByName(ids) {
  return ids.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
}

/** peerItem is one peer as a button that opens the chat with them. */
function peerItem(peerID) {
  const { presence, status } = presenceOf(peerID);
  const unread = unreadFrom(peerID);
  const conv = { kind: "peer", id: peerID };
  const name = nameOf(peerID);
  const contact = store.contacts.get(peerID);
  const impostor = impostorWarning(peerID);
  const label = [name, impostor ? "possible impostor" : "", presence, status, unread ? `${unread} unread` : ""].filter(Boolean).join(", ");
  return el(
    "li",
    { "data-peer": peerID, "data-presence": presence, "data-impostor": impostor ? "true" : false },
    el(
      "button",
      {
        type: "button",
        className: "conversation",
        "aria-label": label,
        "aria-current": sameConversation(store.current, conv) ? "true" : false,
        onclick: () => openConversation(conv),
      },
      el("span", { className: "name" }, name, contact && contact.verified ? el("span", { className: "verified", title: "safety number verified" }, " ✓") : null),
      impostorMark(impostor),
      presenceBadge(presence),
      status ? el("span", { className: "status-text" }, status) : null,
      unread ? el("span", { className: "unread", "aria-hidden": "true" }, String(unread)) : null,
      contact && contact.warning ? el("span", { className: "warning" }, "⚠ " + contact.warning) : null,
    ),
  );
}

function renderNearby() {
  const ids = [...store.peers.keys()].filter((id) => !store.contacts.has(id));
  const list = $("nearby");
  if (ids.length === 0) {
    list.replaceChildren(el("li", { className: "empty" }, "Nobody else seen yet."));
    return;
  }
  list.replaceChildren(
    ...sortByName(ids).map((id) => {
      const item = peerItem(id);
      // An impostor is never offered under the name it took: its warning says why not.
      if (impostorWarning(id)) {
        item.append(el("p", { className: "warning" }, "⚠ " + impostorWarning(id)));
      } else {
        item.append(
          el("button", { type: "button", className: "add-contact", onclick: () => addContact(id) }, `Add ${nameOf(id)} to contacts`),
        );
      }
      return item;
    }),
  );
}

async function addContact(peerID) {
  try {
    const c = await api.post("/v1/contacts", { peer: peerID });
    store.contacts.set(c.peer_id, c);
    changed();
    toast(`${nameOf(peerID)} is now a contact.`);
  } catch (err) {
    toast(`Could not add the contact: ${err.message}`);
  }
}

function renderRooms() {
  $("rooms-note").hidden = store.roomsSupported;
  $("room-create").hidden = !store.roomsSupported;
  const rooms = [...store.rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  $("rooms").replaceChildren(...rooms.map(roomItem));
  const invites = [...store.invites.values()];
  $("invites").replaceChildren(...invites.map(inviteItem));
  if (store.roomsSupported && rooms.length === 0 && invites.length === 0) {
    $("rooms").replaceChildren(el("li", { className: "empty" }, "No rooms yet."));
  }
}

function roomItem(room) {
  const conv = { kind: "room", id: room.id };
  const unread = unreadInRoom(room.id);
  const summary = roomSummary(room);
  const label = [`Room ${room.name}`, summary, unread ? `${unread} unread` : ""].filter(Boolean).join(", ");
  return el(
    "li",
    { "data-room": room.id },
    el(
      "button",
      {
        type: "button",
        className: "conversation",
        "aria-label": label,
        "aria-current": sameConversation(store.current, conv) ? "true" : false,
        onclick: () => openConversation(conv),
      },
      el("span", { className: "name" }, "# " + room.name),
      el("span", { className: "status-text" }, summary),
      unread ? el("span", { className: "unread", "aria-hidden": "true" }, String(unread)) : null,
    ),
  );
}

/** roomSummary says how many are in a room and online, and what kind of room it is. */
export function roomSummary(room) {
  const members = room.members || [];
  const online = members.filter((m) => memberPresence(m) !== "offline").length;
  const parts = [`${members.length} member${members.length === 1 ? "" : "s"}`, `${online} online`];
  if (room.announce) {
    parts.push(room.owner ? "announcements (you post)" : "announcements (owners post)");
  }
  return parts.join(", ");
}

function inviteItem(inv) {
  const from = inv.from_name || nameOf(inv.from);
  const what = `${from} invites you to # ${inv.name} (${inv.members} member${inv.members === 1 ? "" : "s"}${inv.announce ? ", announcements" : ""})`;
  return el(
    "li",
    { className: "invite", "data-room": inv.id },
    el("span", {}, what),
    el("button", { type: "button", className: "join", "aria-label": `Join # ${inv.name}, invited by ${from}`, onclick: () => joinRoom(inv) }, `Join ${inv.name}`),
    el("button", { type: "button", className: "decline", "aria-label": `Decline # ${inv.name}, invited by ${from}`, onclick: () => declineRoom(inv) }, "Decline"),
  );
}

async function declineRoom(inv) {
  try {
    await api.post("/v1/rooms/decline", { id: inv.id });
    toast(`You declined # ${inv.name}.`);
    store.invites.delete(inv.id);
    changed();
  } catch (err) {
    toast(`Could not decline ${inv.name}: ${err.message}`);
  }
}

async function joinRoom(inv) {
  try {
    const room = await api.post("/v1/rooms/join", { id: inv.id });
    toast(`You joined # ${room.name}.`);
    store.invites.delete(inv.id);
    store.rooms.set(room.id, room);
    changed();
    openConversation({ kind: "room", id: room.id });
  } catch (err) {
    toast(`Could not join ${inv.name}: ${err.message}`);
  }
}

async function createRoom(e) {
  e.preventDefault();
  const input = $("room-name");
  const name = input.value.trim();
  if (!name) {
    input.focus();
    return;
  }
  try {
    const room = await api.post("/v1/rooms", { name, announce: $("room-announce").checked });
    store.rooms.set(room.id, room);
    input.value = "";
    changed();
    openConversation({ kind: "room", id: room.id });
  } catch (err) {
    if (err.unsupported) {
      store.roomsSupported = false;
      changed();
    }
    toast(`Could not create the room: ${err.message}`);
  }
}
