// api.js: the node's local API, as the web app uses it. The page logs in by trading
// the one-time code of a `parley open` link (#login=CODE: a fragment, which the
// browser never sends to a server) for a session token. It keeps the token in the
// localStorage of this exact origin (scheme, 127.0.0.1 or localhost, and the port),
// which no other site and no other local service (another port) can read, so a new
// tab and a restart of the node (which keeps its port and its sessions) need no new
// login. It sends the token in the X-Parley-Session header of every request, with
// X-Parley: 1 on changes. There is no cookie: browsers send 127.0.0.1's cookies to
// every port of the machine, so every other local service would get it. The token
// never goes into a URL.

const TOKEN_KEY = "parley.session";
let token = stored();

function stored() {
  try {
    return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return ""; // storage refused (a private window's policy): log in per tab
  }
}

function setToken(t) {
  token = t;
  try {
    sessionStorage.removeItem(TOKEN_KEY); // where older pages kept it
    if (t) {
      localStorage.setItem(TOKEN_KEY, t);
    } else {
      localStorage.removeItem(TOKEN_KEY);
    }
  } catch {
    // storage refused: the token lives in this page only
  }
}

/** onTokenChange runs fn(loggedIn) when another tab of this origin logs in or out. */
export function onTokenChange(fn) {
  window.addEventListener("storage", (e) => {
    if (e.key === TOKEN_KEY && e.storageArea === localStorage) {
      token = e.newValue || "";
      fn(token !== "");
    }
  });
}

/** loggedIn reports whether the page holds a session token (the node may still have
 * ended the session: the next request says). */
export function loggedIn() {
  return token !== "";
}

/** login trades the code of the login link in the page's address, if there is one,
 * for a session; the code leaves the address (and the history entry) first. It
 * resolves true once logged in with it, false without a code, and throws an ApiError
 * when the node refuses the code (used or expired). */
export async function login() {
  const m = /^#login=([0-9a-f]{1,128})$/.exec(location.hash);
  if (!m) {
    return false;
  }
  history.replaceState(null, "", location.pathname + location.search);
  const s = await request("POST", "/v1/web/session", { code: m[1] });
  const old = token;
  setToken(s.token);
  if (old && old !== s.token) {
    endSession(old); // this tab's older session: nothing uses it any more
  }
  return true;
}

/** signOut ends this tab's session; everywhere ends every web session of the node. */
export async function signOut(everywhere) {
  await request("DELETE", everywhere ? "/v1/web/sessions" : "/v1/web/session"); // a 401 logs out too
  setToken("");
  listeners.forEach((fn) => fn(everywhere ? "everywhere" : "signed-out"));
}

function endSession(t) {
  fetch("/v1/web/session", { method: "DELETE", headers: { "X-Parley-Session": t, "X-Parley": "1" } }).catch(() => {});
}

/** headers are the session token and, for changes, the header that proves the request
 * comes from this page. */
function headers(method) {
  const h = {};
  if (token) {
    h["X-Parley-Session"] = token;
  }
  if (method !== "GET") {
    h["X-Parley"] = "1";
  }
  return h;
}

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

/** onLoggedOut registers fn(reason) to run when the session ends: reason is "ended"
 * when the node refuses it (401: expired or ended elsewhere),
 * "signed-out" or "everywhere" after signOut. */
export function onLoggedOut(fn) {
  listeners.add(fn);
}

async function request(method, path, body) {
  const used = token;
  const init = { method, credentials: "omit", headers: headers(method) };
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
  return answer(resp, used);
}

/** answer reads the node's answer to a request made with the token used. */
async function answer(resp, used) {
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
    const now = stored();
    if (now && now !== used) {
      token = now; // another tab logged in afresh meanwhile: this page follows
    } else {
      setToken("");
      listeners.forEach((fn) => fn("ended"));
    }
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
    const used = token;
    xhr.open("POST", "/v1/uploads" + query({ to, name: file.name }));
    for (const [name, value] of Object.entries(headers("POST"))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, "offline", `Uploading ${file.name} failed: the node does not answer.`));
    xhr.onload = () => {
      const resp = new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText });
      answer(resp, used).then(resolve, reject);
    };
    xhr.send(file);
  });
}

/** events follows the node's event stream until its close() is called. onEvent gets
 * each api.Event; onState gets "open" or "reconnecting". When the node refuses the
 * session, the onLoggedOut functions run. EventSource cannot send a header, so this
 * reads the server-sent events from fetch's streamed body. */
export function events(onEvent, onState) {
  const abort = new AbortController();
  let closed = false;
  const follow = async () => {
    let wait = 1000;
    while (!closed) {
      let resp = null;
      const used = token;
      try {
        resp = await fetch("/v1/events", { headers: headers("GET"), credentials: "omit", cache: "no-store", signal: abort.signal });
      } catch {
        resp = null; // the node does not answer, or close() was called
      }
      if (closed) {
        return;
      }
      if (resp && resp.status === 401) {
        await answer(resp, used).catch(() => {}); // runs the onLoggedOut functions
        if (token && token !== used) {
          continue; // another tab's newer login: follow with it
        }
        return;
      }
      if (resp && resp.ok) {
        onState("open");
        wait = 250;
        try {
          await readEvents(resp.body, onEvent);
        } catch {
          // the stream broke: connect again
        }
        if (closed) {
          return;
        }
      }
      onState("reconnecting");
      await sleep(wait);
      wait = Math.min(Math.max(wait * 2, 1000), 15000);
    }
  };
  follow();
  return {
    close() {
      closed = true;
      abort.abort();
    },
  };
}

const maxEventBytes = 1 << 20;

/** readEvents parses a text/event-stream body until it ends: "data:" lines, an event
 * at each blank line. Event names and comments are skipped: each event's JSON has its
 * type. */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (data.length) {
          dispatch(data.join("\n"), onEvent);
        }
        data = [];
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
    if (buf.length > maxEventBytes) {
      throw new Error("an event from the node is larger than 1 MiB");
    }
  }
}

function dispatch(data, onEvent) {
  try {
    onEvent(JSON.parse(data));
  } catch (err) {
    console.error("bad event from the node", err, data);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
