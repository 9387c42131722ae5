// The scimbridge console: Org → Users. Everything goes through the admin
// API with the login session; writes carry the CSRF token that
// /auth/{org}/me hands out. Data is put in the page with textContent only,
// never as HTML, so a userName cannot inject markup.
"use strict";

const org = document.body.dataset.org;
const apiBase = `/api/v1/orgs/${encodeURIComponent(org)}`;
const roles = ["viewer", "runner", "editor", "workspace-admin", "org-admin"];
const pageSize = 50;
let csrf = "";
let offset = 0;

const $ = (sel) => document.querySelector(sel);

function signIn() {
  location.assign(`/auth/${encodeURIComponent(org)}/login?return_to=${encodeURIComponent(location.pathname)}`);
}

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function fail(err) {
  show($("#notice"), "");
  show($("#error"), err.message || String(err));
}

function ok(text) {
  show($("#error"), "");
  show($("#notice"), text);
}

// api calls the admin API; a problem document becomes an Error with its
// detail, and a lost session sends the browser to sign in again.
async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(apiBase + path, opts);
  if (resp.status === 401) {
    signIn();
    throw new Error("Your session has ended; signing in again…");
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = new Error(data.detail || data.title || `HTTP ${resp.status}`);
    e.status = resp.status;
    throw e;
  }
  return data;
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function button(label, onClick, attrs) {
  const b = el("button", label, Object.assign({ type: "button" }, attrs));
  // Disabled while its request runs: a double click must not invite twice.
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await onClick();
    } catch (e) {
      fail(e);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

async function loadUsers() {
  const q = new URLSearchParams({ offset: String(offset), limit: String(pageSize) });
  if ($("#search").value) q.set("search", $("#search").value);
  if ($("#status").value) q.set("status", $("#status").value);
  const page = await api("GET", `/users?${q}`);
  const body = $("#users tbody");
  body.replaceChildren();
  for (const u of page.items) {
    const tr = el("tr", undefined, { "data-user": u.userName });
    tr.append(el("td", u.userName), el("td", u.displayName || ""), el("td", u.source),
      el("td", u.status, { class: `status-${u.status}` }));
    const actions = el("td");
    if (u.status === "invited") {
      actions.append(
        button("Resend", async () => {
          await api("POST", `/invitations/${u.invitation.id}/resend`);
          ok(`A new invitation mail goes to ${u.userName}.`);
        }, { "data-action": "resend" }),
        button("Revoke", async () => {
          if (!await destroy(`Revoke the invitation of ${u.userName}? Its link stops working.`, `/invitations/${u.invitation.id}`)) return;
          ok(`The invitation of ${u.userName} is revoked.`);
          await loadUsers();
        }, { "data-action": "revoke" }));
    } else {
      actions.append(button("Permissions", () => showPermissions(u), { "data-action": "permissions" }));
      // The IdP owns SCIM users, and the break-glass owner is never
      // removed: the API refuses both, so the console does not offer it.
      if (u.status !== "removed" && u.source !== "scim" && u.source !== "breakglass") {
        actions.append(button("Remove", async () => {
          if (!await destroy(`Remove ${u.userName} from ${org}? Their sessions and tokens end at once.`, `/users/${u.id}`)) return;
          ok(`${u.userName} was removed.`);
          await loadUsers();
        }, { "data-action": "remove" }));
      }
    }
    tr.append(actions);
    body.append(tr);
  }
  const last = Math.min(offset + page.items.length, page.total);
  $("#range").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "No users";
  $("#prev").disabled = offset === 0;
  $("#next").disabled = last >= page.total;
}

// destroy asks before a destructive call, then makes it; when the server
// answers that the change would take away the admin's own Org Admin, it
// shows that consequence and goes ahead only on a second, explicit yes.
// It reports whether the change was made.
async function destroy(question, path) {
  if (!confirm(question)) return false;
  try {
    await api("DELETE", path);
  } catch (e) {
    if (e.status !== 409 || !e.message.includes("confirm=self-lockout")) throw e;
    const why = e.message.split("; to go ahead")[0];
    if (!confirm(`Careful: ${why}.\n\nRemove it anyway and lose Org Admin now?`)) return false;
    await api("DELETE", path + (path.includes("?") ? "&" : "?") + "confirm=self-lockout");
  }
  return true;
}

async function loadMappings() {
  const page = await api("GET", "/mappings?limit=500");
  const body = $("#mappings tbody");
  body.replaceChildren();
  for (const m of page.items) {
    const tr = el("tr", undefined, { "data-group": m.group.value });
    tr.append(el("td", m.group.value), el("td", m.group.match), el("td", m.role),
      el("td", m.workspace ? m.workspace.name : "(organization)"));
    const actions = el("td");
    actions.append(button("Remove", async () => {
      const where = m.workspace ? `on ${m.workspace.name}` : "on the organization";
      if (!await destroy(`Remove the mapping ${m.group.value} → ${m.role} ${where}? Its members lose that role at once.`, `/mappings/${m.id}`)) return;
      ok(`The mapping of ${m.group.value} is removed; its members lose ${m.role} at once.`);
      await loadMappings();
    }, { "data-action": "remove-mapping" }));
    tr.append(actions);
    body.append(tr);
  }
}

function identityLabel(g) {
  const who = g.email && g.login ? `${g.email} (${g.login})` : g.email || g.login;
  return `${g.provider}: ${who}`;
}

// loadGit is the Edit Git Mapping screen: recent identities, unmapped
// first, each unmapped one with the users the server suggests.
async function loadGit() {
  const page = await api("GET", "/git/identities?unmappedFirst=true&limit=100");
  const body = $("#git tbody");
  body.replaceChildren();
  for (const g of page.items) {
    const tr = el("tr", undefined, { "data-identity": g.email || g.login });
    tr.append(el("td", identityLabel(g)), el("td", g.name || ""),
      el("td", new Date(g.lastSeen).toLocaleDateString()), el("td", String(g.commits)),
      el("td", g.mappedTo ? g.mappedTo.userName : "—", { class: "mapped-to" }));
    const actions = el("td");
    if (g.mappedTo) {
      actions.append(button("Unmap", async () => {
        if (!await destroy(`Unmap ${identityLabel(g)} from ${g.mappedTo.userName}? Their pushes are no longer attributed to them.`, `/git/identities/${g.id}/mapping`)) return;
        ok(`${identityLabel(g)} is no longer mapped.`);
        await loadGit();
      }, { "data-action": "unmap" }));
    } else {
      const listID = `suggest-${g.id}`;
      const input = el("input", undefined, { list: listID, placeholder: "userName or email", "aria-label": "Map to" });
      if (g.suggestions.length) input.value = g.suggestions[0].userName;
      const list = el("datalist", undefined, { id: listID });
      for (const s of g.suggestions) list.append(el("option", undefined, { value: s.userName }));
      actions.append(input, list, button("Map", async () => {
        await api("PUT", `/git/identities/${g.id}/mapping`, { user: input.value });
        ok(`${identityLabel(g)} is mapped to ${input.value}.`);
        await loadGit();
      }, { "data-action": "map" }));
    }
    tr.append(actions);
    body.append(tr);
  }
}

// loadSubscriptions lists the outbound webhook subscriptions, with a
// warning on those the service disabled after a day of failed deliveries.
async function loadSubscriptions() {
  const page = await api("GET", "/subscriptions?limit=500");
  const body = $("#subscriptions tbody");
  body.replaceChildren();
  for (const s of page.items) {
    const tr = el("tr", undefined, { "data-subscription": s.url });
    let state = s.enabled ? "enabled" : "disabled";
    let cls = s.enabled ? "state-enabled" : "state-disabled";
    if (s.disabledReason === "failing") {
      state = `Disabled automatically: every delivery failed from ${new Date(s.failingSince || s.disabledAt).toLocaleString()} for 24 hours. Fix the receiver, then enable it: it resumes with the events it missed.`;
      cls = "warning";
    } else if (s.enabled && s.failingSince) {
      state = `Failing since ${new Date(s.failingSince).toLocaleString()}; retrying.`;
      cls = "warning";
    }
    tr.append(el("td", s.url), el("td", s.eventTypes.length ? s.eventTypes.join(", ") : "all"), el("td", state, { class: cls }));
    const actions = el("td");
    const enable = !s.enabled;
    actions.append(button(enable ? "Enable" : "Disable", async () => {
      await api("PATCH", `/subscriptions/${s.id}`, { enabled: enable });
      ok(`${s.url} is ${enable ? "enabled" : "disabled"}.`);
      await loadSubscriptions();
    }, { "data-action": enable ? "enable" : "disable" }));
    tr.append(actions);
    body.append(tr);
  }
}

async function showPermissions(u) {
  const p = await api("GET", `/users/${u.id}/permissions`);
  $("#perm-user").textContent = u.userName;
  const list = $("#perm-summary");
  list.replaceChildren();
  const lines = p.summary && p.summary.length ? p.summary : ["No roles."];
  for (const line of lines) list.append(el("li", line));
  $("#permissions").hidden = false;
}

async function loadWorkspaces() {
  const page = await api("GET", "/workspaces?limit=500");
  for (const sel of [$("#invite-workspace"), $("#grant-workspace"), $("#map-group-workspace")]) {
    for (const w of page.items) sel.append(el("option", w.name, { value: w.name }));
  }
}

function grantOf(roleSel, wsSel) {
  const g = { role: roleSel.value };
  if (wsSel.value && g.role !== "org-admin") g.workspace = wsSel.value;
  return g;
}

async function init() {
  const resp = await fetch(`/auth/${encodeURIComponent(org)}/me`, { credentials: "same-origin" });
  if (resp.status === 401) return signIn();
  if (!resp.ok) throw new Error(`Cannot read the session (HTTP ${resp.status}).`);
  const me = await resp.json();
  csrf = me.csrfToken;
  $("#whoami").textContent = `Signed in as ${me.userName}`;
  if (me.breakGlass) {
    // A break-glass session is short: say so, and when it ends.
    const ends = new Date(me.sessionExpiresAt);
    $("#whoami").textContent = `Break-glass session (no identity provider) — ends at ${ends.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
    $("#whoami").classList.add("breakglass");
  }
  const logout = $("#logout");
  logout.elements.csrf_token.value = csrf;
  logout.hidden = false;
  for (const r of roles) {
    $("#invite-role").append(el("option", r, { value: r }));
    $("#grant-role").append(el("option", r, { value: r }));
    $("#map-group-role").append(el("option", r, { value: r }));
  }
  $("#app").hidden = false;

  $("#filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    offset = 0;
    loadUsers().catch(fail);
  });
  $("#prev").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); loadUsers().catch(fail); });
  $("#next").addEventListener("click", () => { offset += pageSize; loadUsers().catch(fail); });
  $("#invite").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { email: $("#invite-email").value };
    if ($("#invite-role").value) body.bindings = [grantOf($("#invite-role"), $("#invite-workspace"))];
    api("POST", "/invitations", body).then(async (inv) => {
      ok(`Invited ${inv.email}; the invitation expires ${new Date(inv.expiresAt).toLocaleString()}.`);
      $("#invite-email").value = "";
      await loadUsers();
    }).catch(fail);
  });
  $("#grant").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = Object.assign({ user: $("#grant-user").value }, grantOf($("#grant-role"), $("#grant-workspace")));
    api("POST", "/bindings", body).then(() => ok(`Granted ${body.role} to ${body.user}.`)).catch(fail);
  });

  $("#map-group").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = Object.assign({ group: { match: $("#map-group-match").value, value: $("#map-group-value").value } },
      grantOf($("#map-group-role"), $("#map-group-workspace")));
    api("POST", "/mappings", body).then(async (m) => {
      ok(m && m.warning ? `Mapped, but ${m.warning}.` : `Members of ${body.group.value} now have ${body.role}.`);
      $("#map-group-value").value = "";
      await loadMappings();
    }).catch(fail);
  });

  $("#subscribe").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { url: $("#subscribe-url").value };
    const types = $("#subscribe-events").value.split(",").map((t) => t.trim()).filter((t) => t);
    if (types.length) body.eventTypes = types;
    api("POST", "/subscriptions", body).then(async (s) => {
      show($("#error"), "");
      show($("#notice"), "");
      $("#webhook-secret-url").textContent = s.url;
      $("#webhook-secret-value").textContent = s.secret;
      $("#webhook-secret").hidden = false;
      $("#subscribe-url").value = "";
      $("#subscribe-events").value = "";
      await loadSubscriptions();
    }).catch(fail);
  });

  // Webhooks are off on a service without a secret key (503): the rest of
  // the console works without them.
  loadSubscriptions().catch(fail);
  try {
    await loadWorkspaces();
    await loadMappings();
    await loadUsers();
    await loadGit();
  } catch (err) {
    fail(err);
  }
}

init().catch(fail);
