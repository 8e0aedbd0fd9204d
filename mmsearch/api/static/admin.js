// The admin page (/admin): documents by collection (delete), ingest jobs (cancel), managed API keys
// (create — the key shown once —, revoke) and the audit trail's newest entries. The server refuses every
// one of these calls to a principal that is not an administrator; this page only hides what would be
// refused. Every server value goes into the page as text (textContent), never as HTML.

import { api } from "./api.js";
import { isAdmin } from "./principal.js";

const $ = (id) => document.getElementById(id);
const PAGE = 1000; // documents per request (GET v1/documents pages)
const SHOWN_PER_COLLECTION = 200; // rows drawn per collection; the rest are counted
const ACTIONS = ["search", "file", "image", "upload", "delete", "key_created", "key_revoked", "sign_in",
  "sign_in_failed", "denied"];
const ACTIVE = new Set(["queued", "running"]);

const state = { me: null, documents: [] };

// ---------- messages ----------

function say(message, kind = "error") {
  const box = $("admin-message");
  $("admin-message-text").textContent = message;
  box.dataset.kind = kind;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.hidden = false;
}

function announce(message) {
  $("admin-live").textContent = message;
}

// Runs ``work``; a failure becomes a message on the page (and false), success true.
async function attempt(work) {
  try {
    await work();
    return true;
  } catch (error) {
    say(error.message);
    return false;
  }
}

// ---------- helpers ----------

function when(unix) {
  if (unix == null) return "—";
  return new Date(unix * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label, ariaLabel, onClick, className = "btn") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", () => onClick(b));
  return b;
}

function emptyRow(tbody, columns, text) {
  const row = document.createElement("tr");
  const td = cell(text, "muted");
  td.colSpan = columns;
  row.append(td);
  tbody.replaceChildren(row);
}

function list(values, all) {
  return values == null ? all : values.join(", ");
}

// ---------- documents ----------

async function loadDocuments() {
  const documents = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await api(`v1/documents?limit=${PAGE}&offset=${offset}`);
    documents.push(...page.documents);
    if (documents.length >= page.total || !page.documents.length) break;
  }
  state.documents = documents;
  const picker = $("documents-collection");
  const chosen = picker.value;
  const names = [...new Set(documents.map((d) => d.collection))].sort();
  picker.replaceChildren(new Option("All collections", ""), ...names.map((n) => new Option(n, n)));
  if (names.includes(chosen)) picker.value = chosen;
  renderDocuments();
}

function renderDocuments() {
  const chosen = $("documents-collection").value;
  const shown = state.documents.filter((d) => !chosen || d.collection === chosen);
  const byCollection = new Map();
  for (const doc of shown) {
    if (!byCollection.has(doc.collection)) byCollection.set(doc.collection, []);
    byCollection.get(doc.collection).push(doc);
  }
  const collections = byCollection.size;
  $("documents-summary").textContent = shown.length
    ? `${shown.length} document${shown.length === 1 ? "" : "s"} in ${collections} collection${collections === 1 ? "" : "s"}.`
    : "No documents yet: add files on the search page.";
  const blocks = [...byCollection].map(([name, docs]) => collectionBlock(name, docs));
  $("documents-list").replaceChildren(...blocks);
}

function collectionBlock(name, docs) {
  const block = document.createElement("div");
  block.className = "collection-block";
  const title = document.createElement("h3");
  title.id = `collection-${[...name].map((c) => c.charCodeAt(0).toString(16)).join("")}`;
  title.textContent = `${name} (${docs.length})`;
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-labelledby", title.id);
  wrap.tabIndex = 0;
  const table = document.createElement("table");
  const head = document.createElement("thead");
  const labels = document.createElement("tr");
  for (const label of ["Name", "Kind", "Units", "Groups", "Added", "Actions"]) {
    const th = document.createElement("th");
    th.scope = "col";
    const text = document.createElement("span");
    text.textContent = label;
    if (label === "Actions") text.className = "visually-hidden"; // named for screen readers only
    th.append(text);
    labels.append(th);
  }
  head.append(labels);
  const body = document.createElement("tbody");
  for (const doc of docs.slice(0, SHOWN_PER_COLLECTION)) body.append(documentRow(doc));
  table.append(head, body);
  wrap.append(table);
  block.append(title, wrap);
  if (docs.length > SHOWN_PER_COLLECTION) {
    const more = document.createElement("p");
    more.className = "muted";
    more.textContent = `and ${docs.length - SHOWN_PER_COLLECTION} more (GET /v1/documents lists them all).`;
    block.append(more);
  }
  return block;
}

function documentRow(doc) {
  const row = document.createElement("tr");
  row.dataset.docId = doc.doc_id;
  const name = cell("", "name");
  const link = document.createElement("a");
  link.href = doc.file_url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = doc.name;
  name.append(link);
  const actions = cell("");
  actions.append(button("Delete", `Delete ${doc.name} from ${doc.collection}`, () => deleteDocument(doc), "btn danger"));
  row.append(name, cell(doc.modality), cell(String(doc.units)), cell(doc.groups.join(", ") || "—"),
    cell(when(doc.ingest_time)), actions);
  return row;
}

async function deleteDocument(doc) {
  if (!window.confirm(`Delete ${doc.name} from ${doc.collection}? Its pages, images and original are removed.`)) return;
  const done = await attempt(async () => {
    await api(`v1/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
  });
  if (!done) return;
  state.documents = state.documents.filter((d) => d.doc_id !== doc.doc_id);
  renderDocuments();
  announce(`Deleted ${doc.name} from ${doc.collection}.`);
  $("documents-refresh").focus();
  loadAudit();
}

// ---------- jobs ----------

async function loadJobs() {
  const { jobs } = await api("v1/jobs?limit=50");
  const body = $("jobs-table").tBodies[0];
  if (!jobs.length) return emptyRow(body, 6, "No ingest jobs yet.");
  body.replaceChildren(...jobs.map(jobRow));
  if (jobs.some((j) => ACTIVE.has(j.state))) setTimeout(() => attempt(loadJobs), 2000);
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.jobId = job.job_id;
  const p = job.progress;
  const files = ACTIVE.has(job.state)
    ? `${p.files_done} of ${p.files_total}${p.current ? ` · ${p.current}` : ""}`
    : `${p.files_total}: ${job.indexed} indexed, ${job.unchanged} unchanged, ${job.failed} failed`;
  const actions = cell("");
  if (ACTIVE.has(job.state)) {
    actions.append(button("Cancel", `Cancel the job of ${p.files_total} files to ${job.collection}`,
      (b) => cancelJob(job, b), "btn danger"));
  }
  row.append(cell(when(job.started ?? job.created)), cell(job.collection), cell(job.principal || "—"),
    cell(job.state), cell(files), actions);
  return row;
}

async function cancelJob(job, control) {
  control.disabled = true;
  const done = await attempt(() => api(`v1/jobs/${encodeURIComponent(job.job_id)}`, { method: "DELETE" }));
  if (done) announce(`Cancelling the job of ${job.progress.files_total} files to ${job.collection}.`);
  await attempt(loadJobs);
}

// ---------- keys ----------

async function loadKeys() {
  const { keys } = await api("v1/keys");
  const body = $("keys-table").tBodies[0];
  if (!keys.length) return emptyRow(body, 8, "No managed keys yet.");
  body.replaceChildren(...keys.slice().reverse().map(keyRow));
}

function keyRow(key) {
  const row = document.createElement("tr");
  row.dataset.keyName = key.name;
  row.dataset.state = key.state;
  const actions = cell("");
  if (key.state === "active") {
    actions.append(button("Revoke", `Revoke the key ${key.name}`, () => revokeKey(key), "btn danger"));
  }
  row.append(cell(key.name, "name"), cell(key.role), cell(list(key.collections, "every collection")),
    cell(list(key.groups, "every document")), cell(key.state), cell(when(key.created)),
    cell(key.expires == null ? "never" : when(key.expires)), actions);
  return row;
}

function splitList(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

async function createKey(event) {
  event.preventDefault();
  const groups = splitList($("new-key-groups").value);
  const body = {
    name: $("new-key-name").value.trim(),
    role: $("new-key-role").value,
    collections: splitList($("new-key-collections").value),
    groups: groups.length ? groups : null,
    expires: $("new-key-expires").value.trim() || null,
  };
  let made = null;
  const done = await attempt(async () => {
    made = await api("v1/keys", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  });
  if (!done) return;
  $("key-create").reset();
  $("new-key-title").textContent = `The key ${made.name}: copy it now, it is shown only this once.`;
  $("new-key-secret").textContent = made.key;
  $("new-key").hidden = false;
  $("new-key-copy").focus();
  await attempt(loadKeys);
  loadAudit();
}

function forgetNewKey() {
  $("new-key-secret").textContent = "";
  $("new-key").hidden = true;
  $("new-key-name").focus();
}

async function copyNewKey() {
  try {
    await navigator.clipboard.writeText($("new-key-secret").textContent);
    announce("The key is copied.");
  } catch {
    const range = document.createRange(); // no clipboard access: select it for Ctrl+C
    range.selectNodeContents($("new-key-secret"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    announce("The key is selected: press Ctrl+C (or ⌘C) to copy it.");
  }
}

async function revokeKey(key) {
  if (!window.confirm(`Revoke the key ${key.name}? Whoever uses it is refused from now on.`)) return;
  const done = await attempt(() => api(`v1/keys/${encodeURIComponent(key.name)}`, { method: "DELETE" }));
  if (!done) return;
  announce(`The key ${key.name} is revoked.`);
  await attempt(loadKeys);
  $("keys-title").focus();
  loadAudit();
}

// ---------- audit ----------

async function loadAudit() {
  const action = $("audit-action").value;
  const query = new URLSearchParams({ limit: "100" });
  if (action) query.set("action", action);
  const ok = await attempt(async () => {
    const { entries } = await api(`v1/audit?${query}`);
    const body = $("audit-table").tBodies[0];
    $("audit-summary").textContent = entries.length ? `The newest ${entries.length} entries, newest first.` : "";
    if (!entries.length) return emptyRow(body, 5, "No entries.");
    body.replaceChildren(...entries.map(auditRow));
  });
  if (!ok) $("audit").hidden = true; // e.g. an administrator of some collections only
}

function auditRow(entry) {
  const row = document.createElement("tr");
  row.dataset.action = entry.action;
  row.append(cell(when(entry.unix)), cell(entry.principal.name), cell(entry.action.replace("_", " ")),
    cell(describe(entry.details), "details"), cell(entry.client || "—"));
  return row;
}

// The details of an entry in a line: "key: x · role: reader"; lists of ids are counted, not listed.
function describe(details) {
  const parts = [];
  for (const [key, value] of Object.entries(details)) {
    if (value == null || key === "truncated") continue;
    if (key === "doc_ids") continue; // "hits" counts them
    const text = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(`${key.replace("_", " ")}: ${text}`);
  }
  const line = parts.join(" · ");
  return line.length > 240 ? `${line.slice(0, 239)}…` : line;
}

// ---------- start ----------

async function start() {
  $("admin-message-close").addEventListener("click", () => {
    $("admin-message").hidden = true;
  });
  for (const action of ACTIONS) $("audit-action").append(new Option(action.replace("_", " "), action));
  try {
    state.me = await api("v1/me");
  } catch (error) {
    const why = error.status === 401
      ? "Sign in, or enter your API key, on the search page first; then come back here."
      : error.message;
    say(why);
    document.body.dataset.ready = "1";
    return;
  }
  $("who").hidden = false;
  $("who").textContent = state.me.name.replace(/^oidc:/, "");
  if (!isAdmin(state.me)) {
    say(`This page is for administrators: ${state.me.name} is a ${state.me.role}.`, "info");
    document.body.dataset.ready = "1";
    return;
  }
  $("admin-sections").hidden = false;
  $("documents-refresh").addEventListener("click", () => attempt(loadDocuments));
  $("documents-collection").addEventListener("change", renderDocuments);
  $("jobs-refresh").addEventListener("click", () => attempt(loadJobs));
  $("key-create").addEventListener("submit", createKey);
  $("new-key-done").addEventListener("click", forgetNewKey);
  $("new-key-copy").addEventListener("click", copyNewKey);
  $("audit-refresh").addEventListener("click", loadAudit);
  $("audit-action").addEventListener("change", loadAudit);
  $("keys-title").tabIndex = -1; // focus lands here after a revoke
  await Promise.all([attempt(loadDocuments), attempt(loadJobs), attempt(loadKeys), loadAudit()]);
  document.body.dataset.ready = "1"; // every section is drawn (tests wait for it)
}

start();
