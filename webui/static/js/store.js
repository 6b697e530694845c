// store.js: what the page knows about the node, kept up to date from the API's answers
// and its event stream. Views subscribe with onChange and read the fields directly.

export const store = {
  me: null, // api.Status
  presence: { presence: "online", status: "" },
  peers: new Map(), // peer_id → api.Peer
  contacts: new Map(), // peer_id → api.Contact (buddies and blocked peers)
  messages: new Map(), // message key (conversation, sender, ID) → api.Message
  rooms: new Map(), // room id → api.Room
  invites: new Map(), // room id → api.RoomInvite
  roomsSupported: true,
  transfers: new Map(), // transfer id → api.Transfer
  uploads: new Map(), // local id → {name, to, sent, total, error}
  current: null, // the open conversation: {kind: "peer"|"room", id}
};

const listeners = new Set();
let pending = false;

/** onChange runs fn (once per animation frame at most) after the store changed. */
export function onChange(fn) {
  listeners.add(fn);
}

/** changed schedules the listeners. */
export function changed() {
  if (pending) {
    return;
  }
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    listeners.forEach((fn) => fn());
  });
}

/** conversationOf names the conversation a message belongs to. */
export function conversationOf(m) {
  if (m.room) {
    return { kind: "room", id: m.room };
  }
  return { kind: "peer", id: m.direction === "in" ? m.from : m.to };
}

export function sameConversation(a, b) {
  return !!a && !!b && a.kind === b.kind && a.id === b.id;
}

/** messagesOf lists the conversation's messages in the node's order: a room by each
 * message's order key (Lamport counter first, the same on every member's node; never
 * by the sender's clock, which may be wrong), a chat by the time sent. */
export function messagesOf(conv) {
  const out = [];
  for (const m of store.messages.values()) {
    if (sameConversation(conversationOf(m), conv)) {
      out.push(m);
    }
  }
  if (conv.kind === "room") {
    return out.sort((a, b) => byteCompare(a.order || "", b.order || "") || byteCompare(a.key, b.key));
  }
  return out.sort((a, b) => Date.parse(a.sent_at) - Date.parse(b.sent_at) || byteCompare(a.key, b.key));
}

/** byteCompare orders strings by their code units (for the node's ASCII keys: bytes),
 * not by the user's locale as localeCompare would. */
function byteCompare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** unreadFrom counts messages from a peer not yet marked read. */
export function unreadFrom(peerID) {
  let n = 0;
  for (const m of store.messages.values()) {
    if (!m.room && m.direction === "in" && m.from === peerID && m.state === "received") {
      n++;
    }
  }
  return n;
}

/** unreadInRoom counts a room's messages from others not yet marked read (the node
 * keeps that state, so the count survives a reload). */
export function unreadInRoom(roomID) {
  let n = 0;
  for (const m of store.messages.values()) {
    if (m.room === roomID && m.direction === "in" && m.state === "received") {
      n++;
    }
  }
  return n;
}

/** unreadIn counts the unread messages of a conversation. */
export function unreadIn(conv) {
  return conv.kind === "room" ? unreadInRoom(conv.id) : unreadFrom(conv.id);
}

/** nameOf is what the node calls a peer (display_name: their nickname, the name they
 * announce, …), or a short form of their ID when the node names them not at all. The
 * page never picks a name by rules of its own. */
export function nameOf(peerID) {
  const c = store.contacts.get(peerID);
  if (c && c.display_name) {
    return c.display_name;
  }
  const p = store.peers.get(peerID);
  if (p && p.display_name) {
    return p.display_name;
  }
  if (store.me && store.me.peer_id === peerID) {
    return store.me.name || "you";
  }
  return shortID(peerID);
}

export function shortID(peerID) {
  return peerID ? peerID.slice(0, 6) + "…" + peerID.slice(-6) : "?";
}

/** impostorWarning is the node's warning about a peer that announces a contact's name
 * with another key, or "". */
export function impostorWarning(peerID) {
  const p = store.peers.get(peerID);
  return (p && p.warning) || "";
}

/** senderOf is who wrote m as the node names them, and the node's warning about them. */
export function senderOf(m) {
  if (m.direction === "out") {
    return { name: "You", warning: "" };
  }
  return { name: m.from_display || m.from_name || nameOf(m.from), warning: m.from_warning || impostorWarning(m.from) };
}

/** presenceOf is a peer's presence and status text, from the freshest source. */
export function presenceOf(peerID) {
  const p = store.peers.get(peerID);
  if (p) {
    return { presence: p.presence || "offline", status: p.status || "" };
  }
  const c = store.contacts.get(peerID);
  return { presence: (c && c.presence) || "offline", status: (c && c.status) || "" };
}

/** memberPresence is a room member's presence: live from the peer list when the page
 * has it, our own from the status form, else what the room listing said. */
export function memberPresence(member) {
  if (store.me && member.peer_id === store.me.peer_id) {
    return store.presence.presence || "online";
  }
  const p = store.peers.get(member.peer_id);
  return (p && p.presence) || member.presence || "offline";
}

/** isMe reports whether the peer ID is this node's. */
export function isMe(peerID) {
  return !!store.me && store.me.peer_id === peerID;
}

/** isBuddy reports whether the peer is in the contact list (and not blocked). */
export function isBuddy(peerID) {
  const c = store.contacts.get(peerID);
  return !!c && c.contact && !c.blocked;
}

/** putMessage stores m, keeping the furthest state when events race with answers.
 * Messages are kept by the node's key (conversation, sender, ID): an ID alone is the
 * sender's choice, and another sender may reuse it. */
export function putMessage(m) {
  const old = store.messages.get(m.key);
  if (old && stateRank(old.state) > stateRank(m.state)) {
    m = { ...m, state: old.state };
  }
  store.messages.set(m.key, m);
}

const ranks = { failed: 1, queued: 1, held: 1, sent: 2, received: 2, delivered: 3, read: 4 };

function stateRank(s) {
  return ranks[s] ?? 0;
}
