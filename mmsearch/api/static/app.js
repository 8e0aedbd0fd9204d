// mmsearch web page: the API call, the key and sign-in, and the notices; the search itself (box,
// filters, results, viewer) is search.js, the uploads and their jobs uploads.js. No build step, no CDN.
// Every value from the server is put in the page with textContent/attributes, never as HTML.

import { initUploads, renderUploads } from "./uploads.js"; // h23b: uploads and the jobs panel
import { isAdmin, mayWrite } from "./principal.js"; // h23b
import { initSearch, refreshPickers, startSearch } from "./search.js";

const $ = (id) => document.getElementById(id);

// The API key is kept in this tab's sessionStorage: a reload keeps it, closing the tab forgets it, and
// no other tab sees it. Never localStorage (it would outlive the tab); only this server's own scripts
// run on this origin (its Content-Security-Policy allows no other). With web sign-in (OIDC) the page
// holds no secret at all: the session cookie is HttpOnly.
const KEY_SLOT = "mmsearch.apiKey";

const state = {
  authRequired: false,
  signIn: false, // the server offers web sign-in at auth/login
  me: null, // GET v1/me: {name, role, collections, can_write (or may_write), all_collections?}, or null
  info: null, // GET v1/info
};

// ---------- API ----------

function apiKey() {
  try {
    return sessionStorage.getItem(KEY_SLOT) || "";
  } catch {
    return ""; // storage disabled: the page works with sign-in only
  }
}

function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_SLOT, key);
    else sessionStorage.removeItem(KEY_SLOT);
  } catch {
    showNotice("This browser keeps no data for this page: the key cannot be stored.");
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw Object.assign(new Error("The server cannot be reached."), { status: 0, code: "unreachable" });
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(body?.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = body?.error?.code;
    throw error;
  }
  return body;
}

// ---------- upload: static/uploads.js (h23b) ----------

// ---------- who is searching: key, sign-in, collections ----------

function needsCredentials() {
  return state.authRequired && !apiKey() && !state.me;
}

// A request was refused for want of credentials: sign in where the server offers it, else ask for a key.
function askForCredentials() {
  if (state.signIn && !apiKey()) {
    state.me = null;
    renderMe();
    showNotice("Sign in to search: click “Sign in”.", "info");
  } else {
    openKeyDialog();
  }
}

async function loadMe() {
  try {
    state.me = await api("v1/me");
  } catch (error) {
    state.me = null;
    if (error.status !== 401) showNotice(`The server did not say who you are: ${error.message}`);
  }
  renderMe();
  if (!state.me && state.authRequired) {
    const how = state.signIn ? "Sign in to search: click “Sign in”." : "This server needs an API key: click “API key” to enter yours.";
    showNotice(how, "info");
  }
}

// The header and the picker for who this is: the name, sign in or out, "Add files" only for those who
// may write, and only the collections they may search.
function renderMe() {
  const me = state.me;
  const session = Boolean(me && state.signIn && state.authRequired && !apiKey());
  $("sign-in").hidden = !state.signIn || session;
  $("sign-out").hidden = !session;
  $("who").hidden = !(me && state.authRequired);
  $("who").textContent = me ? me.name.replace(/^oidc:/, "") : "";
  renderCollections(me?.collections ?? null, Boolean(me?.all_collections));
  renderUpload();
}

// h23b: "Add files" (uploads.js) only where this principal may write; "Admin" for administrators.
function renderUpload() {
  renderUploads();
  $("admin-link").hidden = !isAdmin(state.me);
}

// ``all``: the principal may use every collection (``collections`` then lists those that exist, if any).
function renderCollections(collections, all) {
  const select = $("collection");
  const chosen = select.value;
  select.replaceChildren();
  $("collection-picker").hidden = !collections?.length;
  if (!collections?.length) return; // nothing to pick: the server's own scope applies
  if (all) select.append(new Option("All collections", ""));
  else if (collections.length > 1) select.append(new Option("All my collections", ""));
  for (const name of collections) select.append(new Option(name, name));
  if (collections.includes(chosen)) select.value = chosen;
}

function openKeyDialog() {
  $("key-input").value = "";
  $("key-dialog").showModal();
  $("key-input").focus();
}

function wireKeyDialog() {
  $("key-button").addEventListener("click", openKeyDialog);
  $("key-form").addEventListener("submit", () => {
    const key = $("key-input").value.trim();
    if (key) setApiKey(key);
    $("key-input").value = "";
    hideNotice();
    loadMe().then(refreshPickers);
  });
  $("key-forget").addEventListener("click", () => {
    setApiKey("");
    $("key-input").value = "";
    $("key-dialog").close();
    loadMe();
  });
}

function showNotice(message, kind = "error") {
  const notice = $("notice");
  notice.textContent = message;
  notice.classList.toggle("info", kind === "info");
  notice.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
}

async function loadInfo() {
  try {
    const info = await api("v1/info");
    state.info = info;
    state.authRequired = info.auth_required;
    state.signIn = Boolean(info.sign_in);
    $("key-button").hidden = !info.auth_required;
  } catch (error) {
    if (error.code === "unreachable") showNotice("The search server cannot be reached. Check your connection, then reload the page.");
    else showNotice(`The server did not say what it offers: ${error.message}`);
  }
}

// ---------- start ----------

function start() {
  initUploads({ // h23b
    collection: () => $("collection").value,
    me: () => state.me,
    authRequired: () => state.authRequired,
    needsCredentials,
    askForCredentials,
    onIndexed: () => loadInfo().then(loadMe).then(refreshPickers),
  });
  wireKeyDialog();
  initSearch({
    api,
    needsCredentials,
    askForCredentials,
    mayAddFiles: () => mayWrite(state.me, state.authRequired, $("collection").value),
    addFiles: () => $("upload-input").click(),
  });
  $("collection").addEventListener("change", renderUpload);
  loadInfo()
    .then(loadMe)
    .then(() => {
      document.body.dataset.ready = "1"; // the header and controls are in place (tests wait for it)
      return startSearch(state.info);
    });
}

start();
