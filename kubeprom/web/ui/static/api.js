// The HTTP API in Prometheus' envelope: resolves to {data, warnings, infos}, rejects with
// APIError carrying the server's errorType and message.

export class APIError extends Error {
  constructor(message, type, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined && item !== null) u.searchParams.append(k, item);
  }
  return u;
}

async function envelope(res) {
  let body;
  try {
    body = await res.json();
  } catch (err) {
    throw new APIError(`${res.status} ${res.statusText}: the answer is not JSON`, "internal", res.status);
  }
  if (body.status !== "success") {
    throw new APIError(body.error || `${res.status} ${res.statusText}`, body.errorType || "internal", res.status);
  }
  return { data: body.data, warnings: body.warnings || [], infos: body.infos || [] };
}

export async function get(path, params, signal) {
  return envelope(await fetch(url(path, params), { headers: { Accept: "application/json" }, signal }));
}

// POST with a form body, as Prometheus' UI sends queries (no URL length limit).
export async function post(path, params, signal) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) body.append(k, v);
  return envelope(await fetch(url(path), { method: "POST", body, headers: { Accept: "application/json" }, signal }));
}
