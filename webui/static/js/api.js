// api.js: the node's local API, as the web app uses it. Every request carries the
// session cookie (set by the login link) and, for changes, the X-Parley header that
// proves the request comes from this page.

/** An answer of the node that is not 2xx. code is the API's error code, or "" when the
 * node does not know the route at all (an older node: the feature is missing). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  /** True when the node has no such endpoint (404 without an API error code). */
  get unsupported() {
    return this.status === 404 && this.code === "";
  }
}

const listeners = new Set();

/** onLoggedOut registers fn to run when the node refuses the session (401). */
export function onLoggedOut(fn) {
  listeners.add(fn);
}

async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    init.headers["X-Parley"] = "1";
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "offline", "The node does not answer: is `parley up` still running?");
  }
  return answer(resp);
}

async function answer(resp) {
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (resp.ok) {
    return data;
  }
  if (resp.status === 401) {
    listeners.forEach((fn) => fn());
  }
  const code = (data && data.code) || "";
  const message = (data && data.error) || `The node answered ${resp.status} ${resp.statusText}`;
  throw new ApiError(resp.status, code, message);
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const del = (path) => request("DELETE", path);

/** query builds a query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

/** upload streams file to the node, which offers it to peer `to`. onProgress gets
 * (sent, total) while the bytes go up. Resolves with the node's Transfer. */
export function upload(to, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/uploads" + query({ to, name: file.name }));
    xhr.setRequestHeader("X-Parley", "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, "offline", `Uploading ${file.name} failed: the node does not answer.`));
    xhr.onload = () => {
      const resp = new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText });
      answer(resp).then(resolve, reject);
    };
    xhr.send(file);
  });
}

/** events opens the node's event stream. onEvent gets each api.Event; onState gets
 * "open", "reconnecting" or "closed" (the node refused: see onLoggedOut). */
export function events(onEvent, onState) {
  const es = new EventSource("/v1/events");
  const handle = (e) => {
    try {
      onEvent(JSON.parse(e.data));
    } catch (err) {
      console.error("bad event from the node", err, e.data);
    }
  };
  for (const type of ["message", "message_state", "peer", "transfer", "room"]) {
    es.addEventListener(type, handle);
  }
  es.onopen = () => onState("open");
  es.onerror = () => onState(es.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  return es;
}
