// mmsearch web page: search box, query by image, filters, result cards, viewer. No build step, no CDN.
// Every value from the server is put in the page with textContent/attributes, never as HTML.

import { initUploads, renderUploads } from "./uploads.js"; // h23b: uploads and the jobs panel
import { isAdmin } from "./principal.js"; // h23b

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
  queryImage: null, // a File/Blob chosen, dropped or pasted
  queryVideo: null, // a video File chosen (the server samples its first segment)
  searching: false,
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
  const response = await fetch(path, { ...options, headers });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(body?.error?.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = body?.error?.code;
    throw error;
  }
  return body;
}

// ---------- search ----------

function searchRequest() {
  const text = $("query").value.trim();
  const modality = document.querySelector('input[name="modality"]:checked').value;
  const prefix = $("path-prefix").value.trim();
  const filters = {};
  if (modality) filters.modality = modality;
  const collection = $("collection").value;
  if (collection) filters.collection = [collection];
  if (prefix) filters.path_prefix = prefix;
  const fields = {
    text: text || null,
    top_k: Number($("top-k").value),
    rerank: $("rerank").checked,
  };
  if (Object.keys(filters).length) fields.filters = filters;
  return fields;
}

function searchBody(fields) {
  if (!state.queryImage && !state.queryVideo) {
    return { body: JSON.stringify(fields), headers: { "Content-Type": "application/json" } };
  }
  const form = new FormData();
  if (state.queryImage) form.append("image", state.queryImage, state.queryImage.name || "query-image");
  if (state.queryVideo) form.append("video", state.queryVideo, state.queryVideo.name || "query-video");
  if (fields.text) form.append("text", fields.text);
  form.append("top_k", String(fields.top_k));
  form.append("rerank", String(fields.rerank));
  if (fields.filters) form.append("filters", JSON.stringify(fields.filters));
  return { body: form, headers: {} };
}

async function runSearch() {
  const fields = searchRequest();
  if (!fields.text && !state.queryImage && !state.queryVideo) {
    showNotice("Type a query or choose an image or a video clip to search with.", "info");
    $("query").focus();
    return;
  }
  if (needsCredentials()) {
    askForCredentials();
    return;
  }
  rememberQuery(fields);
  setSearching(true);
  hideNotice();
  const started = performance.now();
  try {
    const { body, headers } = searchBody(fields);
    const result = await api("v1/search", { method: "POST", body, headers });
    renderResults(result, performance.now() - started);
  } catch (error) {
    renderResults(null);
    showNotice(error.message);
    if (error.status === 401) askForCredentials();
  } finally {
    setSearching(false);
  }
}

function setSearching(on) {
  state.searching = on;
  $("search-button").disabled = on;
  $("search-button").textContent = on ? "Searching…" : "Search";
  document.body.classList.toggle("busy", on);
}

function rememberQuery(fields) {
  const url = new URL(window.location.href);
  if (fields.text) url.searchParams.set("q", fields.text);
  else url.searchParams.delete("q");
  history.replaceState(null, "", url);
}

// ---------- results ----------

function clock(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function where(hit) {
  if (hit.modality === "page") {
    return hit.page_count ? `Page ${hit.page} of ${hit.page_count}` : `Page ${hit.page}`;
  }
  if (hit.modality === "video") return `${clock(hit.t_start)} – ${clock(hit.t_end ?? hit.t_start)}`;
  return "Image";
}

function openLabel(hit) {
  if (hit.modality === "page") return `Open the PDF at page ${hit.page} ↗`;
  if (hit.modality === "video") return `Play the video from ${clock(hit.t_start)} ↗`;
  return "Open the original image ↗";
}

function renderResults(result, elapsedMs) {
  const container = $("results");
  container.replaceChildren();
  if (!result) {
    $("status").textContent = "";
    return;
  }
  $("empty").hidden = true;
  if (result.hits.length === 0) {
    $("status").textContent = "No results. Try other words, another image, or fewer filters.";
    return;
  }
  const order = result.reranked ? `reranked by ${result.reranker}` : "vector order";
  const ms = result.timings_ms?.total ?? elapsedMs;
  $("status").textContent =
    `${result.hits.length} results from ${result.candidates} candidates · ${order} · ${Math.round(ms)} ms`;
  const template = $("card-template");
  for (const hit of result.hits) {
    container.append(card(template, hit));
  }
}

function card(template, hit) {
  const node = template.content.firstElementChild.cloneNode(true);
  node.dataset.pointId = hit.point_id;
  node.dataset.rank = hit.rank;
  node.dataset.modality = hit.modality;
  const img = node.querySelector("img");
  img.src = hit.thumbnail_url;
  img.alt = `${hit.file_name}, ${where(hit)}`;
  node.querySelector(".badge").textContent = hit.modality;
  node.querySelector(".rank").textContent = `#${hit.rank}`;
  const file = node.querySelector(".file");
  file.textContent = hit.file_name;
  file.title = `${hit.collection}/${hit.name}`;
  const place = node.querySelector(".where");
  if (hit.modality === "video") {
    const link = document.createElement("a");
    link.href = hit.link;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = `▶ ${where(hit)}`;
    link.title = `Play from ${clock(hit.t_start)}`;
    link.addEventListener("click", (event) => event.stopPropagation());
    place.append(link);
  } else {
    place.textContent = where(hit);
  }
  node.querySelector(".snippet").textContent = hit.snippet || "";
  node.querySelector(".scores").replaceChildren(...scoreParts(hit));
  node.addEventListener("click", () => openViewer(hit));
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openViewer(hit);
    }
  });
  return node;
}

function scoreParts(hit) {
  const parts = [];
  const add = (label, value) => {
    if (value === null || value === undefined) return;
    if (parts.length) parts.push(document.createTextNode(" · "));
    const strong = document.createElement("b");
    strong.textContent = value.toFixed(3);
    parts.push(document.createTextNode(`${label} `), strong);
  };
  add("rerank", hit.rerank_score);
  add("vector", hit.vector_score);
  return parts;
}

// ---------- viewer ----------

function openViewer(hit) {
  $("viewer-title").textContent = hit.file_name;
  $("viewer-where").textContent = `${where(hit)} · ${hit.collection}/${hit.name}`;
  const image = $("viewer-image");
  image.src = hit.image_url;
  image.alt = `${hit.file_name}, ${where(hit)}`;
  $("viewer-snippet").textContent = hit.snippet || "";
  $("viewer-scores").replaceChildren(...scoreParts(hit));
  const open = $("viewer-open");
  open.href = hit.link;
  open.textContent = openLabel(hit);
  renderFrames(hit);
  $("viewer").showModal();
}

function frameUrl(hit, index) {
  const url = new URL(hit.image_url);
  url.searchParams.set("frame", String(index));
  return url.toString();
}

function renderFrames(hit) {
  const strip = $("viewer-frames");
  strip.replaceChildren();
  if (hit.modality !== "video" || hit.frames < 2) return;
  for (let i = 0; i < hit.frames; i += 1) {
    const thumb = document.createElement("img");
    const url = new URL(frameUrl(hit, i));
    url.searchParams.set("w", "160");
    thumb.src = url.toString();
    thumb.alt = `frame ${i + 1}`;
    thumb.loading = "lazy";
    thumb.classList.toggle("current", i === hit.preview_frame);
    thumb.addEventListener("click", () => {
      $("viewer-image").src = frameUrl(hit, i);
      strip.querySelectorAll("img").forEach((el) => el.classList.remove("current"));
      thumb.classList.add("current");
    });
    strip.append(thumb);
  }
}

// ---------- query image ----------

function setQueryImage(file) {
  if (file && !file.type.startsWith("image/")) {
    showNotice(`${file.name} is not an image: search by a PNG, JPEG or WebP picture.`);
    return;
  }
  state.queryImage = file || null;
  const chip = $("query-image");
  const preview = $("query-image-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (file) {
    preview.src = URL.createObjectURL(file);
    chip.hidden = false;
  } else {
    preview.removeAttribute("src");
    chip.hidden = true;
    $("image-input").value = "";
  }
}

// ---------- query video ----------

function setQueryVideo(file) {
  if (file && !file.type.startsWith("video/")) {
    showNotice(`${file.name} is not a video: search by an MP4, WebM, MOV or MKV clip.`);
    return;
  }
  state.queryVideo = file || null;
  $("query-video").hidden = !file;
  $("query-video-name").textContent = file ? file.name : "";
  if (!file) $("video-input").value = "";
}

function wireVideoInput() {
  $("video-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    setQueryVideo(file);
    if (file) runSearch();
  });
  $("query-video-clear").addEventListener("click", () => setQueryVideo(null));
}

function wireImageInput() {
  $("image-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    setQueryImage(file);
    if (file) runSearch();
  });
  $("query-image-clear").addEventListener("click", () => setQueryImage(null));
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) {
      if (file.type.startsWith("video/")) setQueryVideo(file);
      else setQueryImage(file);
      runSearch();
    }
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) {
      setQueryImage(item.getAsFile());
      runSearch();
    }
  });
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
    loadMe();
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
    state.authRequired = info.auth_required;
    state.signIn = Boolean(info.sign_in);
    $("key-button").hidden = !info.auth_required;
    const reranker = info.reranker ? ` · reranker ${info.reranker.split("/").pop()}` : "";
    const model = info.embedding_model ? info.embedding_model.split("/").pop() : "starting…";
    $("model-info").textContent = `${model}${info.dim ? ` (${info.dim}d)` : ""}${reranker}`;
  } catch (error) {
    showNotice(`The server did not answer: ${error.message}`);
  }
}

// ---------- start ----------

function start() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.searching) runSearch();
  });
  document.querySelectorAll('input[name="modality"]').forEach((radio) =>
    radio.addEventListener("change", () => {
      if ($("results").childElementCount) runSearch();
    }),
  );
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("viewer").addEventListener("click", (event) => {
    if (event.target === $("viewer")) $("viewer").close();
  });
  initUploads({ // h23b
    collection: () => $("collection").value,
    me: () => state.me,
    authRequired: () => state.authRequired,
    needsCredentials,
    askForCredentials,
    onIndexed: () => loadInfo().then(loadMe),
  });
  wireImageInput();
  wireVideoInput();
  wireKeyDialog();
  $("collection").addEventListener("change", () => {
    renderUpload();
    if ($("results").childElementCount) runSearch();
  });
  loadInfo().then(loadMe).then(() => {
    document.body.dataset.ready = "1"; // the header and controls are in place (tests wait for it)
    const q = new URL(window.location.href).searchParams.get("q");
    if (q) {
      $("query").value = q;
      runSearch();
    }
  });
}

start();
