// dom.js: small helpers to build the page. Text always goes in as text nodes, never as
// HTML, so nothing a peer sends can become markup.

/** el makes an element: attrs are attributes (on* keys become listeners, booleans
 * toggle), children are nodes or strings. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) {
      continue;
    }
    if (k.startsWith("on") && typeof v === "function") {
      node.addEventListener(k.slice(2), v);
    } else if (k === "className") {
      node.className = v;
    } else if (v === true) {
      node.setAttribute(k, "");
    } else {
      node.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) {
      node.append(c instanceof Node ? c : String(c));
    }
  }
  return node;
}

/** $ finds the element with this id; a missing one is a bug in index.html. */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) {
    throw new Error(`index.html has no #${id}`);
  }
  return node;
}

export function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

/** fmtClock is a time of day, for messages under a day separator. */
export function fmtClock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** fmtDateTime is a full date and time (search results, tooltips). */
export function fmtDateTime(iso) {
  return new Date(iso).toLocaleString([], { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** dayKey names the local calendar day of a time; dayLabel says it as people do. */
export function dayKey(iso) {
  return new Date(iso).toDateString();
}

export function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) {
    return "Today";
  }
  if (d.toDateString() === yesterday.toDateString()) {
    return "Yesterday";
  }
  return d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

/** initials are up to two letters for an avatar: of the first two words of a name. */
export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter((w) => /\p{L}|\p{N}/u.test(w));
  const letters = words.slice(0, 2).map((w) => [...w.replace(/^[^\p{L}\p{N}]+/u, "")][0] || "");
  return letters.join("").toUpperCase() || "?";
}

/** highlight is text with each case-insensitive occurrence of the words in <mark>, as
 * text nodes only. */
export function highlight(text, query) {
  const words = query.split(/\s+/).filter((w) => w.length > 0).map((w) => w.toLowerCase());
  if (words.length === 0) {
    return [text];
  }
  const lower = text.toLowerCase();
  const out = [];
  let at = 0;
  for (;;) {
    let best = -1;
    let len = 0;
    for (const w of words) {
      const i = lower.indexOf(w, at);
      if (i >= 0 && (best < 0 || i < best)) {
        best = i;
        len = w.length;
      }
    }
    if (best < 0) {
      break;
    }
    out.push(text.slice(at, best), el("mark", {}, text.slice(best, best + len)));
    at = best + len;
  }
  out.push(text.slice(at));
  return out.filter((p) => p !== "");
}

export const presenceLabels = {
  online: "Online",
  away: "Away",
  busy: "Busy",
  invisible: "Invisible",
  offline: "Offline",
};

/** presenceBadge shows a presence as a coloured dot plus its word (colour is never
 * the only cue). */
export function presenceBadge(presence) {
  const p = presence || "offline";
  return el("span", { className: `presence presence-${p}` }, presenceLabels[p] || p);
}

/** impostorMark flags a possible impostor where its name appears: visible words, and
 * the node's warning for screen readers and on hover. Nothing for "". */
export function impostorMark(warning) {
  if (!warning) {
    return null;
  }
  return el(
    "span",
    { className: "impostor", title: warning },
    el("span", { "aria-hidden": "true" }, " ⚠ "),
    "possible impostor",
    el("span", { className: "visually-hidden" }, `: ${warning}`),
  );
}

let toastTimer = 0;

/** toast tells the user something briefly (screen readers hear it too). */
export function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 8000);
}
