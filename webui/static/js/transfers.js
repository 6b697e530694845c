// transfers.js: files: sending by drag-and-drop or the picker (uploaded to the node,
// which offers them), progress bars of every transfer, and incoming offers to accept
// or reject.

import * as api from "./api.js";
import { $, el, fmtBytes, toast } from "./dom.js";
import { changed, nameOf, store } from "./store.js";

let nextUpload = 1;

export function initTransfers() {
  const input = $("file-input");
  $("file-btn").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    sendFiles([...input.files]);
    input.value = "";
  });
  const zone = $("conversation");
  zone.addEventListener("dragover", (e) => {
    if (canDrop(e)) {
      e.preventDefault();
      zone.classList.add("dragging");
    }
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    zone.classList.remove("dragging");
    if (canDrop(e)) {
      e.preventDefault();
      sendFiles([...e.dataTransfer.files]);
    }
  });
}

function canDrop(e) {
  return store.current && store.current.kind === "peer" && e.dataTransfer && [...e.dataTransfer.types].includes("Files");
}

/** sendFiles uploads each file to the node, which offers it to the open chat's peer. */
export function sendFiles(files) {
  const conv = store.current;
  if (!conv || conv.kind !== "peer") {
    toast("Open a chat with one person to send files.");
    return;
  }
  for (const file of files) {
    uploadOne(conv.id, file);
  }
}

async function uploadOne(to, file) {
  const id = "upload-" + nextUpload++;
  const up = { name: file.name, to, sent: 0, total: file.size, error: "" };
  store.uploads.set(id, up);
  changed();
  try {
    const t = await api.upload(to, file, (sent, total) => {
      up.sent = sent;
      up.total = total;
      changed();
    });
    store.uploads.delete(id);
    putTransfer(t);
  } catch (err) {
    up.error = err.message;
    toast(`Could not send ${file.name}: ${err.message}`);
  }
  changed();
}

/** putTransfer stores the newest view of a transfer. While a send hashes its files the
 * node reports it under a provisional "hashing-…" ID; once the real transfer shows up,
 * the provisional entry of the same files to the same peer goes. */
export function putTransfer(t) {
  const old = store.transfers.get(t.id);
  if (old && old.updated_at > t.updated_at) {
    return;
  }
  store.transfers.set(t.id, t);
  if (t.id.startsWith("hashing-")) {
    return;
  }
  for (const [id, h] of store.transfers) {
    if (id.startsWith("hashing-") && h.state === "hashing" && h.peer_id === t.peer_id && sameFiles(h, t)) {
      store.transfers.delete(id);
    }
  }
}

function sameFiles(a, b) {
  const names = (t) => (t.files || []).map((f) => f.path).join("\n");
  return a.total_bytes === b.total_bytes && count(a) === count(b) && names(a) === names(b);
}

/** count is how many files a transfer holds: listings carry the first few in files. */
function count(t) {
  return Math.max(t.file_count || 0, (t.files || []).length);
}

export function renderTransfers() {
  const uploads = [...store.uploads.entries()].map(([id, up]) => uploadItem(id, up));
  const transfers = [...store.transfers.values()]
    .sort((a, b) => b.started_at.localeCompare(a.started_at))
    .map(transferItem);
  const all = [...uploads, ...transfers];
  if (all.length === 0) {
    all.push(el("li", { className: "empty" }, "No files yet. Drop files on a chat, or use Send files…"));
  }
  keepFocus(() => $("transfers").replaceChildren(...all));
  const pending = [...store.transfers.values()].filter((t) => t.direction === "in" && t.state === "pending").length;
  $("transfers-h").textContent = pending ? `Files (${pending} waiting for you)` : "Files";
}

function keepFocus(render) {
  const a = document.activeElement;
  const li = a && a.closest ? a.closest("#transfers li[data-id]") : null;
  const cls = a && a.classList ? a.classList[0] : "";
  render();
  if (li && cls) {
    const again = document.querySelector(`#transfers li[data-id="${li.dataset.id}"] .${cls}`);
    if (again) {
      again.focus();
    }
  }
}

function uploadItem(id, up) {
  const label = `Uploading ${up.name} for ${nameOf(up.to)}`;
  return el(
    "li",
    { "data-id": id, "data-state": up.error ? "failed" : "uploading", className: "transfer out" },
    el("span", { className: "transfer-name" }, up.name),
    el("span", { className: "transfer-peer" }, `to ${nameOf(up.to)}`),
    el("progress", { value: up.sent, max: up.total || 1, "aria-label": label }),
    el("span", { className: "transfer-state" }, up.error ? `failed: ${up.error}` : `uploading to your node, ${fmtBytes(up.sent)} of ${fmtBytes(up.total)}`),
    up.error ? el("button", { type: "button", className: "dismiss", onclick: () => dismiss(id) }, `Dismiss ${up.name}`) : null,
  );
}

function dismiss(id) {
  store.uploads.delete(id);
  changed();
}

function transferName(t) {
  const files = t.files || [];
  if (files.length === 0) {
    return "(files)";
  }
  const first = files[0].path.split("/").pop();
  const n = count(t);
  return n === 1 ? first : `${first} and ${n - 1} more`;
}

const stateWords = {
  hashing: "preparing",
  waiting: "waiting for them to accept",
  pending: "wants to send you this",
  transferring: "transferring",
  paused: "paused, resumes by itself",
  scanning: "scanning",
  completed: "completed",
  quarantined: "quarantined by the scanner",
  rejected: "rejected",
  failed: "failed",
  canceled: "canceled",
};

function transferItem(t) {
  const name = transferName(t);
  const peer = t.peer_name || nameOf(t.peer_id);
  const dir = t.direction === "in" ? `from ${peer}` : `to ${peer}`;
  const pct = t.total_bytes ? Math.floor((100 * t.done_bytes) / t.total_bytes) : t.state === "completed" ? 100 : 0;
  let state = stateWords[t.state] || t.state;
  if (t.state === "transferring") {
    state += `, ${fmtBytes(t.done_bytes)} of ${fmtBytes(t.total_bytes)} (${pct} %)${t.rate_bytes_per_s ? ", " + fmtBytes(t.rate_bytes_per_s) + "/s" : ""}`;
  }
  if (t.error) {
    state += `: ${t.error}`;
  }
  const final = ["completed", "quarantined", "rejected", "failed", "canceled"].includes(t.state);
  return el(
    "li",
    { "data-id": t.id, "data-state": t.state, className: `transfer ${t.direction}` },
    el("span", { className: "transfer-name" }, name),
    el("span", { className: "transfer-peer" }, `${dir}, ${fmtBytes(t.total_bytes)}`),
    el("progress", { value: t.done_bytes, max: t.total_bytes || 1, "aria-label": `${name} ${dir}: ${pct} %` }),
    el("span", { className: "transfer-state" }, state),
    t.direction === "in" && t.state === "completed" && t.downloads ? el("span", { className: "transfer-where" }, `saved in ${t.downloads}`) : null,
    t.state === "pending"
      ? el(
          "span",
          { className: "actions" },
          el("button", { type: "button", className: "accept", onclick: () => act(t, "accept") }, `Accept ${name}`),
          el("button", { type: "button", className: "reject", onclick: () => act(t, "cancel") }, `Reject ${name}`),
        )
      : null,
    !final && t.state !== "pending"
      ? el("button", { type: "button", className: "cancel", onclick: () => act(t, "cancel") }, `Cancel ${name}`)
      : null,
  );
}

async function act(t, action) {
  try {
    const updated = await api.post(`/v1/transfers/${encodeURIComponent(t.id)}/${action}`);
    putTransfer(updated);
    changed();
  } catch (err) {
    toast(`Could not ${action === "accept" ? "accept" : "cancel"} ${transferName(t)}: ${err.message}`);
  }
}
