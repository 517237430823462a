/* Shared by the desk and the board: login, the API, the live events WebSocket,
   and a tiny DOM helper. Everything shown comes from /api/v1 as the API gives it
   (the API masks citizens' numbers by role); nothing is built with innerHTML. */
"use strict";

const Hotline = (() => {
  const API = "/api/v1";
  const KEY = "hotline.session";

  /* h("div", {class: "x", onclick: f}, "text", child) -> element */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function fill(id, ...children) {
    const el = document.getElementById(id);
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
    delete el.dataset.shown;   // see fillIfChanged
    return el;
  }

  // fill(), but only when what the children show has changed: a list refreshed every few
  // seconds must not swap a button for an identical one while the user is pressing it
  function fillIfChanged(id, shown, build) {
    const el = document.getElementById(id);
    if (el.dataset.shown === shown) return el;
    fill(id, build());
    el.dataset.shown = shown;
    return el;
  }

  function session() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch { return null; }
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.errorId = body && body.error_id;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const s = session();
    const headers = { Accept: "application/json" };
    if (s) headers.Authorization = `Bearer ${s.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await resp.json().catch(() => null);
    if (resp.status === 401 && path !== "/session") {
      sessionStorage.removeItem(KEY);
      location.reload();
    }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  async function login(user, password) {
    const out = await api("/session", { method: "POST", body: { user, password } });
    sessionStorage.setItem(KEY, JSON.stringify({ token: out.token, user: out.user }));
    return out.user;
  }

  async function logout() {
    try { await api("/session", { method: "DELETE" }); } catch { /* gone already */ }
    sessionStorage.removeItem(KEY);
    location.reload();
  }

  /* Show the login form until someone logs in with an allowed role; then start(user). */
  async function boot({ title, roles, start }) {
    const s = session();
    if (s) {
      try {
        const { user } = await api("/session");
        if (!roles || roles.includes(user.role)) return start(user);
      } catch { /* expired: log in again */ }
      sessionStorage.removeItem(KEY);
    }
    const error = h("div", { class: "error", id: "login-error" });
    const userInput = h("input", { id: "login-user", name: "user", autocomplete: "username", required: true });
    const passInput = h("input", { id: "login-password", name: "password", type: "password",
                                   autocomplete: "current-password", required: true });
    const form = h("form", { class: "card login", id: "login-form" },
      h("h2", {}, title),
      h("label", { for: "login-user" }, "用户 User"), userInput,
      h("label", { for: "login-password" }, "密码 Password"), passInput,
      h("div", { style: "margin-top:12px" },
        h("button", { class: "primary", type: "submit", id: "login-submit" }, "登录 Log in")),
      error,
      h("div", { class: "hint" }, roles ? `角色 Roles: ${roles.join(", ")}` : ""));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        const user = await login(userInput.value.trim(), passInput.value);
        if (roles && !roles.includes(user.role)) {
          error.textContent = `此页面不适用于 ${user.role} · not for role ${user.role}`;
          sessionStorage.removeItem(KEY);
          return;
        }
        form.remove();
        start(user);
      } catch (e) {
        error.textContent = `登录失败 Login failed: ${e.message}`;
      }
    });
    document.querySelector("main").hidden = true;
    document.body.append(form);
    userInput.focus();
  }

  /* The live event stream; reconnects with a growing pause. `status(state)` gets
     "live" / "down" for the header badge. */
  function events(onEvent, status) {
    let pause = 500;
    function connect() {
      const s = session();
      if (!s) return;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${proto}://${location.host}${API}/events?token=${encodeURIComponent(s.token)}`);
      ws.onopen = () => { pause = 500; status && status("live"); };
      ws.onmessage = (msg) => {
        let event;
        try { event = JSON.parse(msg.data); } catch { return; }
        onEvent(event);
      };
      ws.onclose = () => {
        status && status("down");
        setTimeout(connect, pause);
        pause = Math.min(pause * 2, 10000);
      };
    }
    connect();
  }

  function header(user) {
    const badge = h("span", { class: "conn", id: "conn" }, "…");
    const who = h("span", { class: "who", id: "who" },
      `${user.name} · ${user.role}${user.site ? " · site " + user.site : ""}${user.seat ? " · seat " + user.seat : ""}`);
    document.querySelector("header.top").append(badge, who,
      h("button", { id: "logout", onclick: logout }, "退出 Log out"));
    document.querySelector("main").hidden = false;
    return (state) => {
      badge.className = `conn ${state}`;
      badge.textContent = state === "live" ? "实时 live" : "离线 reconnecting";
    };
  }

  const time = (iso) => {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("zh-CN", { hour12: false });
  };
  const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
  const pill = (state, text) => h("span", { class: `pill st-${state}` }, text || state);

  const CALL_STATES = {
    arrived: "到达 arrived", waiting: "排队 waiting", ringing_seat: "振铃 ringing",
    connected: "通话中 connected", transfer_ringing: "转接振铃 transfer ringing",
    blind_ringing: "盲转振铃 blind ringing", three_way_ringing: "三方振铃 three-way ringing",
    three_way: "三方通话 three-way", handed_over: "已移交 handed over", ended: "已结束 ended",
  };
  const SEAT_STATES = {
    available: "空闲 idle", busy: "忙 busy", paused: "暂停 paused", wrap_up: "整理 wrap-up",
    offline: "离线 offline",
  };

  // a recording's audio: fetched with the session's token (an <audio src> cannot send
  // one), played from a blob: URL; the server audits the listen
  async function audioUrl(path) {
    const s = session();
    const resp = await fetch(API + path, { headers: s ? { Authorization: `Bearer ${s.token}` } : {} });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    return URL.createObjectURL(await resp.blob());
  }

  // a list of recordings, each with a play button that fills an <audio> player
  function recordingList(recordings, playerId) {
    if (!recordings.length) return h("div", { class: "empty" }, "无录音 no recordings");
    return h("table", { class: "recordings" },
      h("tr", {}, ["录音 Recording", "场地 Site", "坐席 Seats", "时长 Length", ""].map((t) => h("th", {}, t))),
      recordings.map((r) => h("tr", { dataset: { recording: r.recording_id } },
        h("td", {}, r.recording_id), h("td", {}, r.site), h("td", {}, r.seats.join(", ") || "–"),
        h("td", {}, r.duration_s ? `${r.duration_s.toFixed(1)} s` : "–"),
        h("td", {}, r.available
          ? h("button", { class: "play", onclick: async () => {
              const player = document.getElementById(playerId);
              player.src = await audioUrl(`/recordings/${encodeURIComponent(r.recording_id)}/audio`);
              player.dataset.recording = r.recording_id;
              await player.play().catch(() => {});
            } }, "播放 Play")
          : h("span", { class: "muted" }, r.deleted ? "已过期 expired" : "录制中 recording")))));
  }

  return { h, fill, fillIfChanged, api, audioUrl, recordingList, boot, events, header, time, pct, pill, session, CALL_STATES, SEAT_STATES };
})();
