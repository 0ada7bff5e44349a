/* How designer pages talk to the JSON API and tell the user when it fails: one `api()`, one way
 * to read the CSRF token, one error shape, one toast.
 *
 * Errors come back as the server's envelope {"error": {"code", "message", "params", "fields"}}
 * with `message` already in the user's language; `api()` turns every failure into an ApiError
 * that carries it. When the server could not answer (network down, a proxy page), the message is
 * the page's own translated text (the toast templates base.html renders through gettext), so no
 * English is hard-coded here. */

/** A failed call: `status` 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(status, error, body) {
    super(error.message || error.code);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code || "";
    this.params = error.params || {};
    this.fields = error.fields || {};
    this.body = body;  // the whole parsed answer (some endpoints answer a list of issues)
  }
}

/** The session's CSRF token, as base.html hands it to htmx (`hx-headers` on <body>). */
export function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch (e) {
    return "";  // a page without a session: the server refuses the write and says why
  }
}

/** Text of one of base.html's toast templates ("failed", "unreachable"), in the page's language. */
export function pageMessage(which) {
  const template = document.getElementById(`toast-${which}`);
  const strong = template && template.content.querySelector("strong");
  return strong ? strong.textContent : "";
}

/**
 * Call the API. `body` is sent as JSON, except a FormData or (with `raw`) a string, sent as is.
 * Resolves to the parsed JSON (null for an empty answer); rejects with an ApiError.
 */
export async function api(method, url, body, { raw = false } = {}) {
  const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
  let payload;
  if (body instanceof FormData || raw) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, { code: "network", message: pageMessage("unreachable") }, null);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;  // not JSON (a proxy's error page): reported below with the page's own words
  }
  if (resp.ok) return data;
  const error = data && data.error && data.error.message ? data.error : { code: "server", message: pageMessage("failed") };
  throw new ApiError(resp.status, error, data);
}

/** Show a message in the page's toast region (base.html's #toast), closable like the server's. */
export function toast(message) {
  const region = document.getElementById("toast");
  const box = document.createElement("div");
  box.className = "toast-msg error";
  const strong = document.createElement("strong");
  strong.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.textContent = "×";
  const label = document.getElementById("toast-failed")?.content.querySelector("button.close");
  close.setAttribute("aria-label", label ? label.getAttribute("aria-label") : "×");
  close.addEventListener("click", () => box.remove());
  box.append(strong, close);
  region.replaceChildren(box);
}

/** Tell the user what went wrong: the server's message, or the page's generic one for a bug. */
export function showError(err) {
  if (err instanceof ApiError) {
    toast(err.message);
    return;
  }
  console.error(err);  // a bug in the page: keep the details for whoever opens the console
  toast(pageMessage("failed"));
}
