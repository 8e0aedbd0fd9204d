// The search part of the web page: the search box, query by image or video clip, filters, the search
// state in the URL, result cards shown at once and reordered in place when the reranker's order
// arrives, Cancel, the viewer (highlights, video frames), and the messages of each search state.
// app.js starts it (initSearch) with what it shares: the API call, credentials and notices.
// Every value from the server is put in the page as text nodes or attributes, never as HTML.

const $ = (id) => document.getElementById(id);

const DEFAULT_TOP_K = 10;
const LISTING_LIMIT = 2000; // documents read for the folder and document pickers
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"];
const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;
const VIDEO_EXTENSIONS = /\.(mp4|m4v|webm|mov|mkv|avi)$/i;

let ctx = null; // {api, needsCredentials, askForCredentials, mayAddFiles, addFiles}

const search = {
  run: null, // the search in flight: {controller (aborts both of its requests), id, shown}
  seq: 0,
  candidates: null, // the URL's `candidates` (else the server's own search.candidates)
  reranker: false, // whether the server has a reranker to refine the order with
  queryImage: null, // a File/Blob chosen, dropped or pasted
  queryVideo: null, // a video File chosen (the server samples its first segment)
  documents: null, // the documents this principal may see: [{name, collection, modality, ...}]
  complete: false, // whether `documents` holds all of them (then the folders show their counts)
  lastInput: "pointer", // how the last control was changed: "pointer" or "key"
  cards: new Map(), // point_id → card element of the results shown
  meta: {}, // metadata facet key → the value chosen (kept while the facet pickers are built or rebuilt)
};

// Settled by startSearch once the server has said what it offers (its reranker among it): a search asked
// for before that (typed while the page loads) waits for it, so it is refined like any other — for 5 s at
// most, so a server that never answers still gets its message.
let markReady;
const serverKnown = new Promise((resolve) => {
  markReady = resolve;
});

const META_PARAM = /^meta\.([A-Za-z0-9_-]{1,64})$/; // a metadata facet in the URL: meta.KEY=value

// ---------- the search state, as in the URL ----------

// URL parameter → what it holds. Everything a text search depends on is here, so a link reproduces it.
function readControls() {
  return {
    q: $("query").value.trim(),
    kind: document.querySelector('input[name="kind"]:checked')?.value || "",
    in: $("collection").value,
    folder: $("folder").value,
    doc: $("document").value.trim(),
    from: $("added-after").value,
    until: $("added-before").value,
    n: Number($("top-k").value) || DEFAULT_TOP_K,
    refine: $("rerank").checked,
    candidates: search.candidates || null,
    meta: Object.fromEntries(Object.entries(search.meta).filter(([, value]) => value)),
  };
}

function toParams(st) {
  const params = new URLSearchParams();
  if (st.q) params.set("q", st.q);
  if (st.kind) params.set("kind", st.kind);
  if (st.in) params.set("in", st.in);
  if (st.folder) params.set("folder", st.folder);
  if (st.doc) params.set("doc", st.doc);
  if (st.from) params.set("from", st.from);
  if (st.until) params.set("until", st.until);
  if (st.n !== DEFAULT_TOP_K) params.set("n", String(st.n));
  if (!st.refine) params.set("refine", "0");
  if (st.candidates) params.set("candidates", String(st.candidates));
  for (const key of Object.keys(st.meta).sort()) params.set(`meta.${key}`, st.meta[key]);
  return params;
}

function fromParams(params) {
  const n = Number(params.get("n"));
  const candidates = Number(params.get("candidates"));
  const meta = {};
  for (const [name, value] of params) {
    const key = META_PARAM.exec(name)?.[1];
    if (key && value) meta[key] = value;
  }
  return {
    q: params.get("q") || "",
    kind: ["page", "image", "video"].includes(params.get("kind")) ? params.get("kind") : "",
    in: params.get("in") || "",
    folder: params.get("folder") || "",
    doc: params.get("doc") || "",
    from: /^\d{4}-\d{2}-\d{2}$/.test(params.get("from") || "") ? params.get("from") : "",
    until: /^\d{4}-\d{2}-\d{2}$/.test(params.get("until") || "") ? params.get("until") : "",
    n: Number.isInteger(n) && n >= 1 && n <= 100 ? n : DEFAULT_TOP_K,
    refine: params.get("refine") !== "0",
    candidates: Number.isInteger(candidates) && candidates >= 1 && candidates <= 1000 ? candidates : null,
    meta,
  };
}

function writeControls(st) {
  $("query").value = st.q;
  const kind = document.querySelector(`input[name="kind"][value="${st.kind}"]`);
  if (kind) kind.checked = true;
  const collection = $("collection");
  if ([...collection.options].some((o) => o.value === st.in)) collection.value = st.in;
  ensureOption($("folder"), st.folder);
  $("folder").value = st.folder;
  $("document").value = st.doc;
  $("added-after").value = st.from;
  $("added-before").value = st.until;
  ensureOption($("top-k"), String(st.n));
  $("top-k").value = String(st.n);
  $("rerank").checked = st.refine;
  search.candidates = st.candidates;
  search.meta = { ...st.meta };
  for (const select of document.querySelectorAll("#facet-fields select")) {
    const value = search.meta[select.dataset.facet] || "";
    ensureOption(select, value);
    select.value = value;
  }
  showFilterCount();
}

function ensureOption(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(new Option(value, value));
}

function rememberInUrl(st) {
  const params = toParams(st);
  const url = new URL(window.location.href);
  url.search = params.toString();
  if (url.toString() !== window.location.href) history.pushState(null, "", url);
}

// ---------- the request ----------

function folderOf(name) {
  const cut = name.lastIndexOf("/");
  return cut > 0 ? name.slice(0, cut) : "";
}

function dayStart(day, plusDays = 0) {
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + plusDays);
  return date.toISOString();
}

// The filters of a search state; throws an Error with a message for people when it cannot be sent.
function filtersOf(st) {
  const filters = {};
  if (st.kind) filters.modality = st.kind;
  if (st.in) filters.collection = [st.in];
  if (st.doc) filters.name = [st.doc];
  else if (st.folder) filters.folder = [st.folder]; // the server matches whole folders of the names
  if (Object.keys(st.meta).length) filters.metadata = { ...st.meta };
  if (st.from) filters.ingested_after = dayStart(st.from);
  if (st.until) filters.ingested_before = dayStart(st.until, 1);
  if (st.from && st.until && st.from > st.until) throw new Error("“Added from” is after “Added until”.");
  return Object.keys(filters).length ? filters : null;
}

function requestBody(st, filters, rerank) {
  const fields = { text: st.q || null, top_k: st.n, rerank };
  if (st.candidates) fields.candidates = st.candidates;
  if (filters) fields.filters = filters;
  if (!search.queryImage && !search.queryVideo) {
    return { body: JSON.stringify(fields), headers: { "Content-Type": "application/json" } };
  }
  const form = new FormData();
  if (search.queryImage) form.append("image", search.queryImage, search.queryImage.name || "query-image");
  if (search.queryVideo) form.append("video", search.queryVideo, search.queryVideo.name || "query-video");
  if (fields.text) form.append("text", fields.text);
  form.append("top_k", String(fields.top_k));
  form.append("rerank", String(rerank));
  if (fields.candidates) form.append("candidates", String(fields.candidates));
  if (filters) form.append("filters", JSON.stringify(filters));
  return { body: form, headers: {} };
}

// ---------- running a search: the first order at once, then the refined one ----------

async function runSearch({ remember = true } = {}) {
  await Promise.race([serverKnown, new Promise((resolve) => setTimeout(resolve, 5000))]);
  const st = readControls();
  if (!st.q && !search.queryImage && !search.queryVideo) {
    showMessage("Type what you are looking for, or choose an image or a video clip to search with.");
    $("query").focus();
    return;
  }
  if (ctx.needsCredentials()) {
    ctx.askForCredentials();
    return;
  }
  let filters;
  try {
    filters = filtersOf(st);
  } catch (error) {
    showMessage(error.message);
    return;
  }
  if (remember && !search.queryImage && !search.queryVideo) rememberInUrl(st);
  cancelRun(false);
  const run = { controller: new AbortController(), id: ++search.seq, shown: false };
  search.run = run;
  hideMessage();
  setStage("searching");
  const refine = st.refine && search.reranker;
  const started = performance.now();
  try {
    const first = await post(requestBody(st, filters, false), run.controller.signal);
    if (search.run !== run) return;
    showResults(first);
    run.shown = first.hits.length > 0;
    if (!refine || !first.hits.length) {
      setStage(null, statusText(first, performance.now() - started));
      return;
    }
    setStage("refining", `${countText(first.hits.length)} · putting them in the best order…`);
    const refined = await post(requestBody(st, filters, true), run.controller.signal);
    if (search.run !== run) return;
    reorder(refined);
    setStage(null, statusText(refined, performance.now() - started));
  } catch (error) {
    if (search.run !== run) return;
    if (error.name === "AbortError") return; // cancelRun has said what happened
    setStage(null, run.shown ? "Showing the first order: the refined one could not be had." : "");
    if (!run.shown) clearResults();
    showError(error);
  } finally {
    if (search.run === run) search.run = null;
    $("cancel-button").hidden = search.run === null;
  }
}

async function post({ body, headers }, signal) {
  return ctx.api("v1/search", { method: "POST", body, headers, signal });
}

// Stops the search in flight (its requests are aborted: the server stops a search whose client left).
function cancelRun(tell = true) {
  const run = search.run;
  if (!run) return;
  search.run = null;
  run.controller.abort();
  if (!tell) return;
  if (run.shown) {
    setStage(null, `${countText(search.cards.size)} · stopped before the best order: this is the first one.`);
  } else {
    setStage(null, "Search cancelled.");
  }
  $("query").focus();
}

function setStage(stage, text) {
  const busy = stage !== null;
  document.body.classList.toggle("busy", busy);
  document.body.dataset.stage = stage || "done";
  $("results").setAttribute("aria-busy", String(busy));
  $("results").classList.toggle("provisional", stage === "refining");
  $("search-button").textContent = stage === "searching" ? "Searching…" : "Search";
  $("cancel-button").hidden = !busy;
  $("status").textContent = text ?? (stage === "searching" ? "Searching…" : "");
}

function countText(n) {
  return n === 1 ? "1 result" : `${n} results`;
}

function statusText(result, elapsedMs) {
  const seconds = (elapsedMs / 1000).toFixed(elapsedMs < 10000 ? 1 : 0);
  if (!result.hits.length) return "No results. Try other words, another image, or fewer filters.";
  const order = result.reranked ? `best first, chosen from ${result.candidates} candidates` : "closest first";
  return `${countText(result.hits.length)} · ${order} · ${seconds} s`;
}

// ---------- messages for people ----------

function showError(error) {
  if (error.status === 401) {
    showMessage("This search needs you to sign in or to give an API key.");
    ctx.askForCredentials();
  } else if (error.code === "unreachable") {
    showMessage("The search server cannot be reached. Check your connection, then try again.", "Try again", () => runSearch({ remember: false }));
  } else if (error.code === "empty_collection") {
    showEmptyIndex();
  } else if (error.status === 403) {
    showMessage("You may not search there. Pick another collection, or ask for access.");
  } else if (error.status === 415 || (error.status === 400 && search.queryImage && /image/i.test(error.message))) {
    showMessage("That file could not be read as a picture. Search with a PNG, JPEG or WebP image.");
  } else if (error.status === 413) {
    showMessage("That file is too large to search with. Try a smaller image or a shorter clip.");
  } else if (error.status === 503 || error.status === 429) {
    showMessage("The server is busy right now. Try again in a moment.", "Try again", () => runSearch({ remember: false }));
  } else if (error.status >= 500) {
    showMessage("The server ran into a problem and could not answer. Try again in a moment.", "Try again", () => runSearch({ remember: false }));
  } else {
    showMessage(`The search could not run: ${error.message}`);
  }
}

function showEmptyIndex() {
  clearResults();
  setStage(null, "");
  if (ctx.mayAddFiles()) {
    showMessage("Nothing has been added yet, so there is nothing to search.", "Add files", () => ctx.addFiles());
  } else {
    showMessage("Nothing has been added here yet, so there is nothing to search. Ask someone who may add files.");
  }
}

function showMessage(text, action = null, onAction = null) {
  $("search-message-text").textContent = text;
  const button = $("search-message-action");
  button.hidden = !action;
  button.textContent = action || "";
  button.onclick = onAction;
  $("search-message").hidden = false;
}

function hideMessage() {
  $("search-message").hidden = true;
}

// ---------- results ----------

function clearResults() {
  $("results").replaceChildren();
  search.cards.clear();
  showLanding(true);
}

function showLanding(on) {
  $("empty").hidden = !on;
  $("page-title").classList.toggle("compact", !on);
}

function showResults(result) {
  search.cards.clear();
  const nodes = result.hits.map((hit) => {
    const node = card(hit, result);
    search.cards.set(hit.point_id, node);
    return node;
  });
  $("results").replaceChildren(...nodes);
  showLanding(false);
}

// The refined order: the same card elements are moved (and new ones added), each sliding from where it
// was, so the page does not blink; the focused card keeps the focus.
function reorder(result) {
  const container = $("results");
  const focused = container.contains(document.activeElement) ? document.activeElement : null;
  const before = new Map([...search.cards].map(([id, node]) => [node, node.getBoundingClientRect()]));
  const next = new Map();
  const nodes = result.hits.map((hit) => {
    const node = search.cards.get(hit.point_id) || card(hit, result);
    fillCard(node, hit, result);
    next.set(hit.point_id, node);
    return node;
  });
  container.replaceChildren(...nodes);
  search.cards = next;
  if (focused?.isConnected) focused.focus({ preventScroll: true });
  if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) return;
  for (const node of nodes) {
    const was = before.get(node);
    if (!was) continue;
    const now = node.getBoundingClientRect();
    const dx = was.left - now.left;
    const dy = was.top - now.top;
    if (dx || dy) {
      node.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "none" }], { duration: 320, easing: "ease-out" });
    }
  }
}

function clock(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function where(hit) {
  if (hit.modality === "page") return hit.page_count ? `Page ${hit.page} of ${hit.page_count}` : `Page ${hit.page}`;
  if (hit.modality === "video") return `${clock(hit.t_start)} – ${clock(hit.t_end ?? hit.t_start)}`;
  return "Image";
}

function place(hit) {
  const folder = folderOf(hit.name || "");
  return folder ? `${hit.collection} › ${folder}` : hit.collection;
}

function openLabel(hit, seconds = hit.t_start) {
  if (hit.modality === "page") return `Open the PDF at page ${hit.page} ↗`;
  if (hit.modality === "video") return `Play the video from ${clock(seconds)} ↗`;
  return "Open the original image ↗";
}

// Relevance in words: the reranker's score is a probability-like 0–1 judgement; without it, the vector
// similarity only orders the hits, so the level says where a hit stands among those shown.
function relevance(hit, result) {
  let level;
  if (hit.rerank_score !== null && hit.rerank_score !== undefined) {
    const s = hit.rerank_score;
    level = s >= 0.75 ? 4 : s >= 0.5 ? 3 : s >= 0.25 ? 2 : 1;
  } else {
    const scores = result.hits.map((h) => h.vector_score);
    const top = Math.max(...scores);
    const low = Math.min(...scores);
    level = top === low ? 4 : 1 + Math.round((3 * (hit.vector_score - low)) / (top - low));
  }
  const label = ["", "Weak match", "Fair match", "Good match", "Strong match"][level];
  return { level, label };
}

function scoreDetails(hit) {
  const parts = [];
  if (hit.rerank_score !== null && hit.rerank_score !== undefined) parts.push(`reranker ${hit.rerank_score.toFixed(3)}`);
  parts.push(`similarity ${hit.vector_score.toFixed(3)}`);
  return `Scores: ${parts.join(" · ")}`;
}

function card(hit, result) {
  const node = $("card-template").content.firstElementChild.cloneNode(true);
  node.dataset.modality = hit.modality;
  node.dataset.pointId = hit.point_id;
  const img = node.querySelector("img");
  const page = hit.modality === "page";
  img.src = page || hit.highlights?.length ? hit.image_url : hit.thumbnail_url; // pages: sharp enough to read
  img.alt = `${hit.file_name}, ${where(hit)}`;
  const figure = node.querySelector(".figure");
  img.addEventListener("load", () => frameThumb(figure, img, node._hit || hit), { once: true });
  node.querySelector(".badge").textContent = hit.modality;
  const open = node.querySelector(".card-open");
  open.textContent = hit.file_name;
  open.addEventListener("click", (event) => {
    event.stopPropagation();
    openViewer(node._hit);
  });
  node.addEventListener("click", (event) => {
    if (!event.target.closest("a, button")) openViewer(node._hit);
  });
  fillCard(node, hit, result);
  return node;
}

// What changes when the refined order arrives: the hit (scores, snippet), its relevance, its place.
function fillCard(node, hit, result) {
  node._hit = hit;
  const whereNode = node.querySelector(".where");
  if (hit.modality === "video") {
    const link = document.createElement("a");
    link.href = hit.link;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = `▶ ${where(hit)}`;
    link.setAttribute("aria-label", `Play ${hit.file_name} from ${clock(hit.t_start)} (opens a new tab)`);
    whereNode.replaceChildren(link);
  } else {
    whereNode.textContent = where(hit);
  }
  const placeNode = node.querySelector(".place");
  placeNode.textContent = place(hit);
  placeNode.title = `${hit.collection}/${hit.name}`;
  markSnippet(node.querySelector(".snippet"), hit.snippet || "", hit.snippet_ranges || []);
  const { level, label } = relevance(hit, result);
  const rel = node.querySelector(".relevance");
  rel.dataset.level = String(level);
  rel.title = scoreDetails(hit);
  node.querySelector(".relevance-label").textContent = label;
  const img = node.querySelector("img");
  if (img.complete && img.naturalWidth) frameThumb(node.querySelector(".figure"), img, hit);
}

// ---------- highlights: boxes over a preview, marks in a snippet ----------

// The snippet with the matched terms in <mark>: text nodes only. Ranges are offsets in code points
// (Python's), so the text is cut as an array of code points, not UTF-16 units.
function markSnippet(element, text, ranges) {
  const chars = Array.from(text);
  const nodes = [];
  let at = 0;
  const sorted = [...ranges].filter((r) => Array.isArray(r) && r.length === 2).sort((a, b) => a[0] - b[0]);
  for (const [start, end] of sorted) {
    const s = Math.max(at, Math.min(chars.length, start));
    const e = Math.max(s, Math.min(chars.length, end));
    if (e <= s) continue;
    if (s > at) nodes.push(document.createTextNode(chars.slice(at, s).join("")));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(s, e).join("");
    nodes.push(mark);
    at = e;
  }
  if (at < chars.length) nodes.push(document.createTextNode(chars.slice(at).join("")));
  element.replaceChildren(...nodes);
}

// Boxes (x0, y0, x1, y1, in pixels of the image as stored) drawn over an image of natural size w × h:
// placed in percentages, so they follow the image at any displayed size.
function drawBoxes(layer, boxes, w, h) {
  const marks = [];
  for (const box of boxes || []) {
    if (!Array.isArray(box) || box.length !== 4) continue;
    const [x0, y0, x1, y1] = box.map(Number);
    if (!(x1 > x0 && y1 > y0)) continue;
    const mark = document.createElement("div");
    mark.className = "box";
    mark.style.left = `${(100 * x0) / w}%`;
    mark.style.top = `${(100 * y0) / h}%`;
    mark.style.width = `${(100 * (x1 - x0)) / w}%`;
    mark.style.height = `${(100 * (y1 - y0)) / h}%`;
    marks.push(mark);
  }
  layer.replaceChildren(...marks);
}

// A card's picture. A page shows its top at a size where its words can be read (style.css crops it);
// a hit with highlights is zoomed on them instead; an image or a frame is shown whole. The boxes are in
// pixels of the stored image, which such cards show as it is, so its natural size is the stored size.
function frameThumb(figure, img, hit) {
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (!w || !h) return;
  const boxes = (hit.highlights || []).filter((b) => Array.isArray(b) && b.length === 4);
  drawBoxes(figure.querySelector(".marks"), boxes, w, h);
  figure.classList.toggle("zoomed", boxes.length > 0);
  if (!boxes.length) {
    figure.style.width = "";
    figure.style.transform = "";
    return;
  }
  const aspect = 3 / 4; // the thumbnail's height / width (style.css: .thumb)
  const bx0 = Math.min(...boxes.map((b) => b[0]));
  const by0 = Math.min(...boxes.map((b) => b[1]));
  const bx1 = Math.max(...boxes.map((b) => b[2]));
  const by1 = Math.max(...boxes.map((b) => b[3]));
  const width = Math.min(w, Math.max(bx1 - bx0 + 0.2 * w, 0.4 * w)); // some context, at most 2.5×
  const height = width * aspect;
  const x0 = Math.min(Math.max(0, (bx0 + bx1) / 2 - width / 2), w - width);
  const y0 = Math.min(Math.max(0, (by0 + by1) / 2 - height / 2), Math.max(0, h - height));
  figure.style.width = `${(100 * w) / width}%`;
  figure.style.transform = `translate(${(-100 * x0) / w}%, ${(-100 * y0) / h}%)`;
}

// ---------- viewer ----------

function frameUrl(hit, index, width = null) {
  const url = new URL(hit.image_url, window.location.href);
  url.searchParams.set("frame", String(index));
  if (width) url.searchParams.set("w", String(width));
  return url.toString();
}

// Where frame ``index`` of a video moment is: the frames are spread evenly over the segment.
function frameTime(hit, index) {
  const start = hit.t_start ?? 0;
  const end = hit.t_end ?? start;
  return start + (index * (end - start)) / Math.max(1, hit.frames);
}

function openViewer(hit) {
  search.viewerReturn = document.activeElement;
  $("viewer-title").textContent = hit.file_name;
  $("viewer-where").textContent = `${where(hit)} · ${place(hit)}`;
  const image = $("viewer-image");
  const marks = $("viewer-marks");
  marks.replaceChildren();
  const figure = $("viewer-figure");
  figure.style.width = "";
  image.onload = () => {
    const w = image.naturalWidth;
    const h = image.naturalHeight;
    // As large as the viewer allows, a small stored page scaled up too; the boxes follow in percent.
    figure.style.width = `min(100%, calc(var(--viewer-height) * ${w / h}))`;
    drawBoxes(marks, hit.highlights, w, h);
  };
  image.src = hit.image_url;
  image.alt = `${hit.file_name}, ${where(hit)}`;
  showVideo(null);
  markSnippet($("viewer-snippet"), hit.snippet || "", hit.snippet_ranges || []);
  $("viewer-scores").textContent = `${relevanceOf(hit)} · ${scoreDetails(hit)}`;
  const open = $("viewer-open");
  open.href = hit.link;
  open.textContent = openLabel(hit);
  renderFrames(hit);
  $("viewer").showModal();
  $("viewer-close").focus();
}

function relevanceOf(hit) {
  const node = search.cards.get(hit.point_id);
  return node?.querySelector(".relevance-label")?.textContent || "";
}

function closeViewer() {
  showVideo(null);
  if ($("viewer").open) $("viewer").close();
}

function showVideo(src) {
  const video = $("viewer-video");
  if (!src) {
    video.pause();
    video.removeAttribute("src");
    video.hidden = true;
    $("viewer-figure").hidden = false;
    return;
  }
  video.src = src;
  video.hidden = false;
  $("viewer-figure").hidden = true;
}

// A video moment's frames, as buttons: one plays the video from that frame's time, in the viewer.
function renderFrames(hit) {
  const strip = $("viewer-frames");
  strip.replaceChildren();
  if (hit.modality !== "video" || hit.frames < 2) return;
  for (let i = 0; i < hit.frames; i += 1) {
    const seconds = frameTime(hit, i);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "frame";
    button.dataset.seconds = seconds.toFixed(2);
    button.setAttribute("aria-label", `Play from ${clock(seconds)}`);
    button.setAttribute("aria-pressed", "false");
    const thumb = document.createElement("img");
    thumb.src = frameUrl(hit, i, 160);
    thumb.alt = "";
    thumb.loading = "lazy";
    button.append(thumb);
    button.addEventListener("click", () => playFrom(hit, seconds, button));
    strip.append(button);
  }
}

function playFrom(hit, seconds, button) {
  const fragment = `#t=${Number(seconds.toFixed(2))}`;
  const src = hit.file_url + fragment;
  showVideo(src);
  const video = $("viewer-video");
  video.addEventListener("loadedmetadata", () => {
    if (Math.abs(video.currentTime - seconds) > 0.25) video.currentTime = seconds;
    video.play().catch(() => {}); // a browser may refuse to play by itself: the controls are there
  }, { once: true });
  const open = $("viewer-open");
  open.href = src;
  open.textContent = openLabel(hit, seconds);
  $("viewer-frames").querySelectorAll(".frame").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
}

// ---------- query image and video ----------

function isImage(file) {
  return IMAGE_TYPES.includes(file.type) || (!file.type && IMAGE_EXTENSIONS.test(file.name || ""));
}

function isVideo(file) {
  return file.type.startsWith("video/") || (!file.type && VIDEO_EXTENSIONS.test(file.name || ""));
}

// Returns whether the file was taken; a file of another type is refused with a message, and the
// image searched with before (if any) stays as it was.
function setQueryImage(file) {
  if (file && !isImage(file)) {
    showMessage(`“${file.name}” is not a picture this search can use. Choose a PNG, JPEG or WebP image.`);
    return false;
  }
  search.queryImage = file || null;
  const chip = $("query-image");
  const preview = $("query-image-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (file) {
    preview.src = URL.createObjectURL(file);
    chip.hidden = false;
  } else {
    preview.removeAttribute("src");
    chip.hidden = true;
  }
  $("image-input").value = "";
  return true;
}

function setQueryVideo(file) {
  if (file && !isVideo(file)) {
    showMessage(`“${file.name}” is not a video this search can use. Choose an MP4, WebM, MOV or MKV clip.`);
    return false;
  }
  search.queryVideo = file || null;
  $("query-video").hidden = !file;
  $("query-video-name").textContent = file ? file.name : "";
  $("video-input").value = "";
  return true;
}

function wireQueryMedia() {
  $("image-button").addEventListener("click", () => $("image-input").click());
  $("video-button").addEventListener("click", () => $("video-input").click());
  $("image-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file && setQueryImage(file)) runSearch();
  });
  $("video-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file && setQueryVideo(file)) runSearch();
  });
  $("query-image-clear").addEventListener("click", () => {
    setQueryImage(null);
    $("query").focus();
  });
  $("query-video-clear").addEventListener("click", () => {
    setQueryVideo(null);
    $("query").focus();
  });
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
    if (!file) return;
    const taken = isVideo(file) ? setQueryVideo(file) : setQueryImage(file);
    if (taken) runSearch();
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item && setQueryImage(item.getAsFile())) runSearch();
  });
}

// ---------- filters: pickers, counts ----------

function showFilterCount() {
  const n = ["folder", "document", "added-after", "added-before"].filter((id) => $(id).value.trim()).length
    + Object.values(search.meta).filter(Boolean).length;
  $("filter-count").hidden = n === 0;
  $("filter-count").textContent = n ? String(n) : "";
}

// The folder and document pickers, from the documents this principal may see (the server scopes the
// listing; folder counts are shown only when the listing is whole), and the counts by kind.
async function loadDocuments() {
  try {
    const listing = await ctx.api(`v1/documents?limit=${LISTING_LIMIT}`);
    search.documents = listing.documents;
    search.complete = listing.total <= listing.documents.length;
  } catch (error) {
    search.documents = null;
    if (error.code === "unreachable") showError(error);
    return;
  }
  renderPickers();
  await loadCounts();
}

// GET v1/facets: units by kind (in the chosen collection), counted by the store; none at all is the
// empty index, said at once with the way to add files.
async function loadCounts() {
  const chosen = $("collection").value;
  let facets;
  try {
    facets = await ctx.api(`v1/facets${chosen ? `?collection=${encodeURIComponent(chosen)}` : ""}`);
  } catch {
    facets = null; // the counts are a help, not a need: the filters work without them
  }
  for (const count of document.querySelectorAll(".segmented .count")) {
    const kind = count.dataset.kind;
    const n = kind ? facets?.kinds.find((k) => k.value === kind)?.count ?? 0 : facets?.total;
    count.textContent = facets ? ` ${n}` : "";
  }
  if (facets) renderFacets(facets.metadata || {});
  if (facets && facets.collections.length === 0 && !search.cards.size) showEmptyIndex();
}

// One picker per metadata key the admin marked as a facet, its values with their counts (in the chosen
// collection); a value chosen (or from the URL) stays offered even when nothing here has it.
function renderFacets(metadata) {
  const fields = $("facet-fields");
  const pickers = Object.entries(metadata).map(([key, values]) => {
    const id = `facet-${key}`;
    const label = document.createElement("label");
    label.className = "field-label";
    label.htmlFor = id;
    label.append(key.charAt(0).toUpperCase() + key.slice(1).replace(/[_-]/g, " "));
    const select = document.createElement("select");
    select.id = id;
    select.className = "field";
    select.dataset.facet = key;
    select.append(new Option("Any", ""));
    for (const { value, count } of values) select.append(new Option(`${value} (${count})`, value));
    const chosen = search.meta[key] || "";
    ensureOption(select, chosen);
    select.value = chosen;
    select.addEventListener("change", () => {
      search.meta[select.dataset.facet] = select.value;
      showFilterCount();
    });
    label.append(select);
    return label;
  });
  fields.replaceChildren(...pickers);
}

function renderPickers() {
  const chosen = $("collection").value;
  const docs = (search.documents || []).filter((d) => !chosen || d.collection === chosen);
  const folders = new Map();
  for (const doc of docs) {
    let folder = folderOf(doc.name);
    while (folder) {
      folders.set(folder, (folders.get(folder) || 0) + 1);
      folder = folderOf(folder);
    }
  }
  const folderSelect = $("folder");
  const keep = folderSelect.value;
  folderSelect.replaceChildren(new Option("Any folder", ""));
  for (const [folder, n] of [...folders].sort()) {
    folderSelect.append(new Option(search.complete ? `${folder} (${n})` : folder, folder));
  }
  ensureOption(folderSelect, keep);
  folderSelect.value = keep;
  $("folder").closest("label").hidden = folders.size === 0 && !keep;
  const names = $("document-names");
  names.replaceChildren(...[...new Set(docs.map((d) => d.name))].sort().map((name) => new Option(name)));
}

// Arrow keys move through radio buttons and closed <select>s, firing "change" at every step: such a
// change only takes effect with Enter (or a click), never by itself.
function wireFilters() {
  const form = $("search-form");
  form.addEventListener("pointerdown", () => { search.lastInput = "pointer"; }, true);
  form.addEventListener("keydown", (event) => {
    search.lastInput = "key";
    const target = event.target;
    if (event.key === "Enter" && (target.type === "radio" || target.tagName === "SELECT" || target.type === "checkbox")) {
      event.preventDefault();
      runSearch();
    }
  }, true);
  const applyIfClicked = () => {
    showFilterCount();
    if (search.lastInput === "pointer" && search.cards.size) runSearch();
  };
  document.querySelectorAll('input[name="kind"]').forEach((radio) => radio.addEventListener("change", applyIfClicked));
  $("collection").addEventListener("change", () => {
    renderPickers();
    loadCounts();
    applyIfClicked();
  });
  for (const id of ["folder", "document", "added-after", "added-before", "top-k", "rerank"]) {
    $(id).addEventListener("change", showFilterCount);
  }
  $("clear-filters").addEventListener("click", () => {
    for (const id of ["folder", "document", "added-after", "added-before"]) $(id).value = "";
    search.meta = {};
    for (const select of document.querySelectorAll("#facet-fields select")) select.value = "";
    showFilterCount();
    if (search.cards.size) runSearch();
  });
}

// ---------- start ----------

export function initSearch(shared) {
  ctx = shared;
  search.initial = fromParams(new URL(window.location.href).searchParams);
  writeControls(search.initial); // at once: a control changed before the page is ready stays changed
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch();
  });
  $("cancel-button").addEventListener("click", () => cancelRun(true));
  $("query").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && search.run) {
      event.preventDefault();
      cancelRun(true);
    }
  });
  $("viewer-close").addEventListener("click", closeViewer);
  $("viewer").addEventListener("click", (event) => {
    if (event.target === $("viewer")) closeViewer();
  });
  $("viewer").addEventListener("close", () => {
    showVideo(null);
    // focus goes back where it was, unless it is already somewhere else: "close" fires a task after the
    // dialog shut, and a click or a key in that gap (into the query box, say) must keep its place
    const back = search.viewerReturn;
    const now = document.activeElement;
    const lost = !now || now === document.body || $("viewer").contains(now);
    if (back?.isConnected && lost) back.focus();
  });
  window.addEventListener("popstate", () => {
    writeControls(fromParams(new URL(window.location.href).searchParams));
    if ($("query").value.trim()) runSearch({ remember: false });
  });
  wireQueryMedia();
  wireFilters();
}

// Once the server has said what it offers (``info``: /v1/info) and who this is: fill the pickers, give
// them the URL's collection and folder (their options exist only now), and run the URL's search.
export async function startSearch(info) {
  search.reranker = Boolean(info?.reranker);
  $("rerank-toggle").hidden = !search.reranker;
  markReady();
  if (!ctx.needsCredentials()) await loadDocuments();
  const st = search.initial;
  const collection = $("collection");
  if (st.in && !collection.value && [...collection.options].some((o) => o.value === st.in)) {
    collection.value = st.in;
    renderPickers();
    loadCounts();
  }
  if (st.folder && !$("folder").value) {
    ensureOption($("folder"), st.folder);
    $("folder").value = st.folder;
  }
  if (st.q) await runSearch({ remember: false });
}

export function refreshPickers() {
  if (!ctx.needsCredentials()) loadDocuments();
}
