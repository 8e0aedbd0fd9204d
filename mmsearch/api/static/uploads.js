// The search page's uploads: "Add files" (only for those who may write), and the panel of the caller's
// ingest jobs — one entry per upload with a progress bar (the bytes sent, then the files indexed), its
// files one line each (status, name, what went wrong), Cancel while it runs, and Dismiss once it ended.
// Every server value goes into the page as text (textContent), never as HTML.

import { apiError, api, authHeaders, UNREACHABLE } from "./api.js";
import { mayWrite } from "./principal.js";

const $ = (id) => document.getElementById(id);
const DISMISSED_SLOT = "mmsearch.dismissedJobs";
const POLL_MS = 1000;
const RECENT_S = 3600; // finished jobs younger than this are shown again after a reload
const ACTIVE = new Set(["queued", "running"]);
const FILE_WORDS = {
  queued: "Waiting", running: "Indexing", indexed: "Indexed", unchanged: "Unchanged", failed: "Failed",
  cancelled: "Cancelled",
};
const UNIT_WORDS = { pdf: ["page", "pages"], image: ["image", "images"], video: ["segment", "segments"] };

let page = null; // what app.js gives initUploads: the chosen collection, who this is, how to ask for a key
let loaded = false; // the caller's recent jobs were listed once

// ``context``: {collection(), me(), authRequired(), needsCredentials(), askForCredentials(), onIndexed()}.
export function initUploads(context) {
  page = context;
  $("upload-button").addEventListener("click", () => $("upload-input").click());
  $("upload-input").addEventListener("change", (event) => {
    uploadFiles([...event.target.files]);
    event.target.value = "";
  });
}

// Called whenever who this is or the chosen collection changes: "Add files" for writers only, and the
// caller's recent jobs once it is known.
export function renderUploads() {
  const me = page.me();
  $("upload-button").hidden = !mayWrite(me, page.authRequired(), page.collection());
  if (me && !loaded) {
    loaded = true;
    listRecentJobs();
  }
}

async function listRecentJobs() {
  let jobs;
  try {
    ({ jobs } = await api("v1/jobs?mine=true&limit=20"));
  } catch {
    return; // the panel stays as it is: uploads made from now on still show
  }
  const now = Date.now() / 1000;
  const dismissed = dismissedJobs();
  const shown = new Set([...$("upload-jobs").children].map((node) => node.dataset.jobId));
  for (const job of jobs) { // newest first, below any upload made meanwhile
    const recent = ACTIVE.has(job.state) || now - (job.finished ?? now) < RECENT_S;
    if (recent && !dismissed.has(job.job_id) && !shown.has(job.job_id)) follow(job, jobEntry(true));
  }
}

// ---------- sending ----------

async function uploadFiles(files) {
  if (!files.length) return;
  if (page.needsCredentials()) {
    page.askForCredentials();
    return;
  }
  const collection = page.collection();
  const me = page.me();
  if (!collection && me?.collections?.length && !me.all_collections) {
    const entry = jobEntry();
    showError(entry, "Choose the collection to add the files to (the “In” picker under the search box), then add them again.");
    return;
  }
  const form = new FormData();
  if (collection) form.append("collection", collection); // before the files: the server reads it first
  for (const file of files) form.append("files", file, file.name);
  const entry = jobEntry();
  const names = files.map((f) => f.name);
  entry.title.textContent = `${count(files.length, "file", "files")}${collection ? ` to ${collection}` : ""}`;
  renderFiles(entry, names.map((name) => ({ name, status: "sending" })));
  try {
    const job = await send(form, entry);
    follow(job, entry);
  } catch (error) {
    if (error.name === "AbortError") {
      showEnded(entry, "Upload cancelled: nothing was sent to the index.");
      return;
    }
    showError(entry, error.message);
    if (error.status === 401) page.askForCredentials();
  }
}

// POST v1/documents with the bytes' progress on the entry's bar (fetch cannot tell it; XMLHttpRequest can).
function send(form, entry) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "v1/documents");
    for (const [name, value] of authHeaders()) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((100 * event.loaded) / event.total);
      setProgress(entry, event.loaded, event.total, `Sending: ${percent}%`);
    });
    request.addEventListener("load", () => {
      if (request.status === 202) resolve(request.response);
      else reject(apiError(request.status, request.response));
    });
    request.addEventListener("error", () => reject(Object.assign(new Error(UNREACHABLE), { status: 0 })));
    request.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
    setProgress(entry, 0, 1, "Sending…");
    setAction(entry, "Cancel", `Cancel sending ${entry.title.textContent}`, () => request.abort());
    request.send(form);
  });
}

// ---------- following a job ----------

async function follow(job, entry) {
  entry.node.dataset.jobId = job.job_id;
  for (;;) {
    renderJob(entry, job);
    if (!ACTIVE.has(job.state)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      job = await api(`v1/jobs/${encodeURIComponent(job.job_id)}`);
    } catch (error) {
      if (error.status === 404) return showError(entry, "This upload's job is no longer on the server.");
      entry.state.textContent = `${error.message} Trying again…`;
    }
  }
  if (job.indexed) page.onIndexed();
}

function renderJob(entry, job) {
  const total = job.progress.files_total;
  entry.node.dataset.state = job.state;
  entry.title.textContent = `${count(total, "file", "files")} to ${job.collection}`;
  renderFiles(entry, job.files);
  if (ACTIVE.has(job.state)) {
    const done = job.progress.files_done;
    const now = job.progress.current ? ` · ${job.progress.current}` : "";
    const words = job.state === "queued" ? "Waiting for earlier uploads" : `Indexing: ${done} of ${total} done${now}`;
    setProgress(entry, job.state === "queued" ? null : done, total, words);
    setAction(entry, "Cancel", `Cancel the upload of ${entry.title.textContent}`, () => cancel(entry, job));
    return;
  }
  showEnded(entry, summary(job), job.failed || job.error ? "error" : "done");
  const handled = job.indexed + job.unchanged + job.failed; // all when done; how far a cancel let it go
  setProgress(entry, handled, total, null);
}

async function cancel(entry, job) {
  entry.action.disabled = true;
  entry.state.textContent = "Cancelling…";
  try {
    await api(`v1/jobs/${encodeURIComponent(job.job_id)}`, { method: "DELETE" });
  } catch (error) {
    entry.action.disabled = false;
    entry.state.textContent = error.message;
  }
}

function summary(job) {
  const parts = [];
  if (job.indexed) parts.push(`${job.indexed} indexed`);
  if (job.unchanged) parts.push(`${job.unchanged} unchanged`);
  if (job.failed) parts.push(`${job.failed} failed`);
  const ended = { done: "Done", cancelled: "Cancelled", failed: "Stopped" }[job.state] || job.state;
  const counts = parts.length ? `: ${parts.join(", ")}` : "";
  return `${ended}${counts}.${job.error ? ` ${job.error}` : ""}`;
}

// ---------- the panel ----------

// One entry of the panel: {node, title, state, bar, action, files}; at the top (a new upload), or
// ``last`` (the earlier ones, listed at load).
function jobEntry(last = false) {
  const node = document.createElement("li");
  node.className = "job";
  const head = document.createElement("div");
  head.className = "job-head";
  const title = document.createElement("span");
  title.className = "job-title";
  const state = document.createElement("span");
  state.className = "job-state";
  const action = document.createElement("button");
  action.type = "button";
  action.className = "job-action";
  action.hidden = true;
  head.append(title, state, action);
  const bar = document.createElement("progress");
  bar.className = "job-progress";
  const files = document.createElement("ul");
  files.className = "job-files";
  node.append(head, bar, files);
  if (last) $("upload-jobs").append(node);
  else $("upload-jobs").prepend(node);
  $("uploads").hidden = false;
  return { node, title, state, bar, action, files };
}

function setProgress(entry, value, max, words) {
  const bar = entry.bar;
  bar.hidden = false;
  bar.max = Math.max(max, 1);
  if (value === null) bar.removeAttribute("value"); // indeterminate: waiting its turn
  else bar.value = value;
  bar.setAttribute("aria-label", `Progress of ${entry.title.textContent || "the upload"}`);
  if (words !== null) entry.state.textContent = words;
}

function setAction(entry, label, ariaLabel, onClick) {
  const button = entry.action;
  button.hidden = false;
  button.disabled = false;
  button.textContent = label;
  button.setAttribute("aria-label", ariaLabel);
  button.onclick = onClick;
}

function showEnded(entry, words, kind = "done") {
  entry.node.dataset.outcome = kind;
  entry.state.textContent = words;
  const title = entry.title.textContent;
  $("uploads-live").textContent = title ? `Upload of ${title}: ${words}` : words; // read out once
  entry.bar.hidden = true;
  setAction(entry, "Dismiss", `Dismiss ${entry.title.textContent || "this message"}`, () => dismiss(entry));
}

function showError(entry, message) {
  showEnded(entry, message, "error");
}

function dismiss(entry) {
  const id = entry.node.dataset.jobId;
  if (id) {
    const dismissed = dismissedJobs();
    dismissed.add(id);
    try {
      sessionStorage.setItem(DISMISSED_SLOT, JSON.stringify([...dismissed].slice(-200)));
    } catch {
      // no storage: it is dismissed until the next reload
    }
  }
  const next = entry.node.nextElementSibling || entry.node.previousElementSibling;
  entry.node.remove();
  if (!$("upload-jobs").childElementCount) $("uploads").hidden = true;
  (next?.querySelector("button:not([hidden])") || $("upload-button")).focus();
}

function dismissedJobs() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(DISMISSED_SLOT) || "[]"));
  } catch {
    return new Set();
  }
}

// Each file on one line: its state in a word, its name (once), then what became of it.
function renderFiles(entry, files) {
  const lines = files.map((file) => {
    const line = document.createElement("li");
    line.dataset.status = file.status;
    const word = document.createElement("span");
    word.className = "file-status";
    word.textContent = file.status === "sending" ? "Sending" : FILE_WORDS[file.status] || file.status;
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    line.append(word, " ", name);
    const detail = fileDetail(file);
    if (detail) {
      const more = document.createElement("span");
      more.className = "file-detail";
      more.textContent = detail;
      line.append(" ", more);
    }
    return line;
  });
  entry.files.replaceChildren(...lines);
}

function fileDetail(file) {
  if (file.status === "failed" || file.status === "cancelled") return file.message ? `— ${file.message}` : "";
  if (file.status === "indexed" || (file.status === "running" && file.units)) {
    const [one, many] = UNIT_WORDS[file.kind] || ["unit", "units"];
    return `· ${count(file.units, one, many)}${file.replaces && file.status === "indexed" ? ", replaced the earlier version" : ""}`;
  }
  return "";
}

function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
