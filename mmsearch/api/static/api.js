// mmsearch pages' one way to the API: the key this tab holds, and api(), which sends it and turns every
// failure into an Error whose message is written for people (status and code kept for the caller).

// The API key is kept in this tab's sessionStorage: a reload keeps it, closing the tab forgets it, and
// no other tab sees it. Never localStorage (it would outlive the tab); only this server's own scripts
// run on this origin (its Content-Security-Policy allows no other). With web sign-in (OIDC) the page
// holds no secret at all: the session cookie is HttpOnly.
const KEY_SLOT = "mmsearch.apiKey";

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_SLOT) || "";
  } catch {
    return ""; // storage disabled: the page works with sign-in only
  }
}

// False when this browser keeps no data for the page (the key cannot be stored).
export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_SLOT, key);
    else sessionStorage.removeItem(KEY_SLOT);
    return true;
  } catch {
    return false;
  }
}

export function authHeaders(headers = {}) {
  const all = new Headers(headers);
  const key = apiKey();
  if (key) all.set("Authorization", `Bearer ${key}`);
  return all;
}

export const UNREACHABLE = "The server did not answer. Check your connection, or ask whoever runs it whether it is up.";

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw Object.assign(new Error(UNREACHABLE), { status: 0, code: "unreachable" });
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw apiError(response.status, body);
  return body;
}

// An Error for a failed answer: the server's message (its JSON error shape), or plain words for a 401.
export function apiError(status, body) {
  const message = status === 401
    ? "Your key or sign-in was not accepted: enter a valid API key, or sign in again."
    : body?.error?.message || `The server answered ${status}.`;
  return Object.assign(new Error(message), { status, code: body?.error?.code });
}
