/* The agent desktop: the pop-up for the call at my seat, its suggestion, the six
   feature keys as buttons, the order form, linked orders and their feedback. */
"use strict";

(() => {
  const { h, fill, api, pill, time, CALL_STATES, SEAT_STATES } = Hotline;

  // categories and levels come from the server (GET /categories, GET /levels)
  const LEVEL_NAMES = { "2h": "2 小时 · urgent", "24h": "24 小时 · utilities",
                        "7d": "7 天 · general", "15d": "15 天 · complex" };
  const TARGETS = {
    "12345": "12345 政务服务", "110": "110 报警", "119": "119 火警", "120": "120 急救",
    "122": "122 交通事故", "12313": "12313", "12395": "12395", "12348": "12348",
    power: "供电 power", water_gas_heat: "水气热 water/gas/heat", telecom: "通信 telecom",
    locksmith: "开锁 locksmith",
  };

  let me = null;          // the logged-in user
  let call = null;        // the call at my seat (the API's view)
  let order = null;       // its order, as GET /orders/{id} gives it
  let suggestion = null;  // the call's suggestion: the order's, or the server's for the saved summary
  let editedSuggestion = false;

  const mine = () => (me.role === "agent_110" || me.site === "110" ? "110" : "12345");
  const other = () => (mine() === "110" ? "12345" : "110");

  function keyButtons() {
    const to = other();
    return [
      ["transfer", "*1", `一键转 ${to}`, `Hand over to ${to}`, "primary"],
      ["three_way", "*2", "三方通话", `Three-way with ${to}`],
      ["suggested_line", "*8", "转建议线路", "Transfer to suggested line"],
      ["hand_over", "*3", "移交对方", "Hand over (in three-way)"],
      ["keep", "*4", "本方保留", "Keep the case"],
      ["cancel", "*0", "取消邀请", "Cancel transfer", "danger"],
    ];
  }

  // A button is enabled only when the server says the call's state machine would accept
  // its action now (the call's allowed_actions); the desk guesses nothing.
  const allowedActions = () => (call && call.state !== "ended" && call.allowed_actions) || [];

  function log(text) {
    const list = document.getElementById("log");
    list.prepend(h("li", {}, `${new Date().toLocaleTimeString("zh-CN", { hour12: false })} ${text}`));
    while (list.children.length > 12) list.lastChild.remove();
  }

  function notice(text, good) {
    fill("action-notice", text ? h("div", { class: `notice ${good ? "good" : "bad"}` }, text) : null);
  }

  // ---- the pop-up ---------------------------------------------------------------------------
  function renderCall() {
    const popup = document.getElementById("popup");
    popup.classList.toggle("idle", !call);
    fill("call-state", call ? pill(call.state, CALL_STATES[call.state] || call.state) : null);
    if (!call) {
      fill("call-body", h("div", { class: "empty" }, "等待来电 · waiting for a call to your seat"));
    } else {
      fill("call-body",
        h("div", { class: "caller" },
          h("span", { class: "number", id: "caller-number" }, call.citizen_number || "–"),
          call.emergency ? pill("waiting", "紧急 emergency") : null,
          call.via_trunk ? pill("paused", `来自 ${call.origin_site} via trunk`) : null),
        h("dl", { class: "facts" },
          h("dt", {}, "工单 Order"), h("dd", { id: "call-order" }, call.order_id || "–"),
          h("dt", {}, "关联 Linked"), h("dd", {}, call.linked_order_id || "–"),
          h("dt", {}, "首接 Origin"), h("dd", {}, call.origin_site || call.site),
          h("dt", {}, "承接 Taken by"), h("dd", { id: "call-taken" }, call.case_taken_by || "–")));
    }
    renderKeys();
    renderSuggestion();
  }

  function renderKeys() {
    const allowed = allowedActions();
    const keys = keyButtons();
    // redrawn on every call update: the agent's key is kept unless what it shows changed
    Hotline.fillIfChanged("keys", JSON.stringify([keys, allowed]), () => keys.map(
      ([action, key, zh, en, cls]) => h("button", {
        id: `act-${action}`, class: cls, dataset: { action },
        disabled: !allowed.includes(action),
        title: `${en} (${key})`, onclick: () => act(action, en),
      }, h("b", {}, zh), h("span", {}, h("kbd", {}, key), " ", en))));
  }

  // An emergency outranks everything on the page: a banner above the pop-up, with the cue.
  function renderEmergencyBanner(s) {
    const banner = document.getElementById("emergency-banner");
    if (!s || !s.emergency) { banner.hidden = true; fill("emergency-banner"); return; }
    const cue = (s.reasons || []).find((r) => r.kind === "emergency_rule");
    fill("emergency-banner",
      h("b", {}, `紧急 EMERGENCY → ${TARGETS[s.target] || s.target}`),
      cue ? h("span", {}, ` ${cue.text}`) : null);
    banner.hidden = false;
  }

  function renderSuggestion() {
    renderEmergencyBanner(suggestion);
    if (!suggestion) { fill("suggestion"); return; }
    const s = suggestion;
    const box = fill("suggestion");
    box.className = `suggestion${s.emergency ? " emergency" : ""}`;
    box.append(
      h("div", { class: "muted", id: editedSuggestion ? "suggestion-edited" : null }, editedSuggestion ? "按摘要重新建议 Suggestion for the edited summary"
                                                    : "路由建议 Routing suggestion"),
      h("div", { class: "target", id: "suggestion-target" },
        TARGETS[s.target] || s.target,
        s.category ? ` · ${s.category}` : "",
        h("span", { class: "muted", style: "font-size:12px; font-weight:400; margin-left:8px" },
          `置信度 confidence ${(s.confidence * 100).toFixed(0)}%${s.uncertain ? " · 不确定 uncertain" : ""}`),
        s.emergency ? pill("waiting", "紧急 emergency") : null),
      h("ul", { id: "suggestion-reasons" }, (s.reasons || []).map((r) =>
        h("li", {}, r.text || r.kind, r.ref ? h("span", { class: "ref" }, r.ref) : null))),
      s.alternatives && s.alternatives.length
        ? h("div", { class: "muted", style: "font-size:12px; margin-top:4px" }, "备选 Alternatives: ",
            s.alternatives.map((a) => `${TARGETS[a.target] || a.target} ${(a.confidence * 100).toFixed(0)}%`).join(" · "))
        : null);
  }

  async function act(action, label) {
    if (!call) return;
    notice("");
    try {
      await api(`/calls/${encodeURIComponent(call.call_id)}/actions/${action}`, { method: "POST" });
      notice(`已发送 ${label} · sent, waiting for the call`, true);
      log(`action ${action} posted`);
    } catch (e) {
      notice(`未执行 ${label}: ${e.message}`);
    }
  }

  // ---- the order ----------------------------------------------------------------------------
  const form = () => document.getElementById("order-form");

  function renderOrder() {
    const f = form();
    const disabled = !order || order.restricted;
    for (const el of f.elements) el.disabled = disabled;
    fill("order-id", order ? order.order_id : "");
    if (!order) return;
    const active = document.activeElement;
    if (active !== f.summary) f.summary.value = order.summary || "";
    if (active !== f.category) f.category.value = order.category || "";
    if (active !== f.level) f.level.value = order.level || "7d";
    fill("f-deadline", h("span", { id: "deadline" }, time(order.deadline_at)),
         order.overdue ? pill("overdue", "已超期 overdue") : null);
    fill("f-status", pill(order.status, order.status));
    renderLinks();
  }

  async function renderLinks() {
    const linked = (order && order.linked) || [];
    if (!linked.length) fill("linked", h("div", { class: "empty" }, "无 none"));
    else {
      fill("linked", h("table", { id: "linked-table" },
        h("tr", {}, h("th", {}, "工单 Order"), h("th", {}, "平台 Platform"), h("th", {}, "关系 Link"),
          h("th", {}, "状态 Status"), h("th", {}, "结果 Outcome")),
        linked.map((l) => h("tr", {},
          h("td", {}, l.order_id), h("td", {}, l.platform), h("td", {}, l.kind || "–"),
          h("td", {}, pill(l.status, l.status)), h("td", {}, l.outcome || "–")))));
    }
    const feedback = ((order && order.history) || []).filter((e) => e.kind === "feedback");
    fill("feedback",
      h("h2", { style: "margin-top:12px" }, "对方反馈 ", h("small", {}, "Feedback from the other platform")),
      feedback.length
        ? h("ul", { class: "plain", id: "feedback-list" }, feedback.map((e) =>
            h("li", {}, h("span", { class: "muted" }, time(e.at), " "), e.note || "",
              e.data && e.data.outcome ? ` · ${e.data.outcome}` : "")))
        : h("div", { class: "empty" }, "暂无反馈 none yet"));
  }

  // the caller's earlier orders, matched on the whole number by the server (the agent on
  // the call sees it whole; a masked number cannot be looked up)
  async function renderHistory() {
    const number = call && call.citizen_number;
    if (!number || number.includes("*")) { fill("history", h("div", { class: "empty" }, "无 none")); return; }
    const callId = call.call_id;
    try {
      const { items } = await api(`/callers/${encodeURIComponent(number)}/history?limit=20`);
      if (!call || call.call_id !== callId) return;
      const earlier = items.filter((o) => o.order_id !== call.order_id);
      fill("history", earlier.length
        ? h("table", { id: "history-table" },
            h("tr", {}, h("th", {}, "时间 Opened"), h("th", {}, "工单 Order"), h("th", {}, "类别 Category"),
              h("th", {}, "状态 Status")),
            earlier.slice(0, 8).map((o) => h("tr", {}, h("td", {}, time(o.opened_at)),
              h("td", {}, o.order_id), h("td", {}, o.category || "–"), h("td", {}, pill(o.status, o.status)))))
        : h("div", { class: "empty", id: "history-none" }, "首次来电 no earlier orders from this number"));
    } catch (e) {
      fill("history", h("div", { class: "empty" }, e.message));
    }
  }

  // the recordings of my call's order (both platforms' parts after a hand-over)
  async function renderRecordings() {
    const empty = (text) => Hotline.fillIfChanged("recordings", `empty:${text}`,
                                                  () => h("div", { class: "empty" }, text));
    if (!order) { empty("无 none"); return; }
    try {
      const res = await api(`/orders/${encodeURIComponent(order.order_id)}/recordings`);
      // the order reloads every few seconds; the list is rebuilt only when it changed
      Hotline.fillIfChanged("recordings", JSON.stringify(res.recordings),
                            () => Hotline.recordingList(res.recordings, "desk-player"));
    } catch (e) {
      empty(`录音 recordings: ${e.message}`);
    }
  }

  async function loadOrder() {
    if (!call || !call.order_id) { order = null; renderOrder(); return; }
    try {
      order = await api(`/orders/${encodeURIComponent(call.order_id)}`);
      if (!editedSuggestion && order.suggestion) suggestion = order.suggestion;
      renderOrder();
      renderRecordings();
      renderSuggestion();
      renderKeys();
      answersSoon();
    } catch (e) {
      // the order is written through the outbox a moment after the call opens
      if (e.status !== 404) log(`order: ${e.message}`);
    }
  }

  // ---- knowledge-base answers: the top three for the summary and the routing category -------
  let kbTimer = null;
  let kbAsked = "";
  function kbText() {
    const typed = form().summary.value.trim();
    return typed || (order && order.summary) || "";
  }

  function answersSoon() {
    clearTimeout(kbTimer);
    kbTimer = setTimeout(() => refreshAnswers().catch((e) => log(`kb: ${e.message}`)), 400);
  }

  async function refreshAnswers() {
    const live = call && call.state !== "ended";
    const q = live ? kbText() : "";
    const category = (suggestion && suggestion.category) || (order && order.category) || "";
    const region = (order && order.region_code) || "";
    const key = `${q}|${category}|${region}`;
    if (key === kbAsked) return;
    kbAsked = key;
    if (!q) { fill("kb-answers", h("div", { class: "empty" }, "通话中按摘要和类别推荐 answers show during a call")); return; }
    const params = new URLSearchParams({ q, limit: "3" });
    if (category) params.set("category", category);
    if (/^\d{6}$/.test(region)) params.set("region", region);
    const { hits } = await api(`/kb/search?${params}`);
    if (kbAsked !== key) return;   // a newer text was asked meanwhile
    fill("kb-answers", hits.length
      ? h("ol", { class: "plain", id: "kb-list" }, hits.map((hit, i) =>
          h("li", { "data-entry": hit.entry_id, style: "margin-bottom:10px" },
            h("div", {}, h("b", { class: "kb-question" }, hit.question),
              h("span", { class: "muted", style: "font-size:12px; margin-left:6px" },
                `${hit.score.toFixed(2)} · ${hit.matched.join(" ")}`)),
            h("div", { class: "kb-answer", style: "font-size:13px" }, hit.answer),
            h("button", { type: "button", class: "kb-use", id: `kb-use-${i}`,
                          onclick: () => useAnswer(hit) }, "采用 Use this answer"))))
      : h("div", { class: "empty" }, "无匹配 no matching answer"));
  }

  async function useAnswer(hit) {
    const f = form();
    f.reply.value = hit.answer;
    const body = { channel: "desk" };
    if (order) body.order_id = order.order_id;
    if (call) body.call_id = call.call_id;
    try {
      const used = await api(`/kb/entries/${encodeURIComponent(hit.entry_id)}/uses`, { method: "POST", body });
      fill("f-notice", h("span", { id: "kb-used" }, `已采用知识库口径 answer used (${used.uses})`));
      log(`kb ${hit.entry_id} used`);
    } catch (e) {
      fill("f-notice", `未记录 use not recorded: ${e.message}`);
    }
  }

  const onLiveCall = () => call && call.state !== "ended" && call.order_id === (order && order.order_id);

  // The summary of a live call is saved through the call (PUT /calls/{id}/summary): the
  // server records it on the order, suggests again, and the call's *8 line and
  // allowed_actions follow; the desk shows the server's answer, never its own guess.
  async function saveSummary(text) {
    const out = await api(`/calls/${encodeURIComponent(call.call_id)}/summary`,
                          { method: "PUT", body: { summary: text } });
    if (out && out.suggestion) { suggestion = out.suggestion; editedSuggestion = true; }
    await refreshCall();
    renderSuggestion();
    renderKeys();
  }

  async function saveOrder(ev) {
    ev.preventDefault();
    if (!order) return;
    const f = form();
    const body = {};
    const summaryChanged = f.summary.value !== (order.summary || "");
    if (f.category.value && f.category.value !== (order.category || "")) body.category = f.category.value;
    if (f.level.value !== order.level) body.level = f.level.value;
    if (summaryChanged && !onLiveCall()) body.summary = f.summary.value;
    const changed = [...(summaryChanged ? ["summary"] : []), ...Object.keys(body).filter((k) => k !== "summary")];
    if (!changed.length) { fill("f-notice", "无改动 nothing changed"); return; }
    try {
      if (summaryChanged && onLiveCall()) await saveSummary(f.summary.value);
      if (Object.keys(body).length) {
        await api(`/orders/${encodeURIComponent(order.order_id)}`, { method: "PATCH", body });
      }
      fill("f-notice", `已保存 saved: ${changed.join(", ")}`);
      await loadOrder();
    } catch (e) {
      fill("f-notice", `保存失败 not saved: ${e.message}`);
    }
  }

  // ---- my seat ------------------------------------------------------------------------------
  async function refreshSeat() {
    if (!me.seat) { fill("seat-state", pill("offline", "无坐席 no seat")); return; }
    const { seats } = await api("/seats");
    const mine = seats.find((s) => s.seat === me.seat && s.site === me.site);
    const state = mine ? (mine.paused ? "paused" : mine.state) : "offline";
    fill("seat-state", pill(state, SEAT_STATES[state] || state));
  }

  async function seatChange(verb) {
    try {
      await api(`/seats/${encodeURIComponent(me.site)}/${encodeURIComponent(me.seat)}/${verb}`, { method: "POST" });
      await refreshSeat();
    } catch (e) { log(`${verb}: ${e.message}`); }
  }

  // ---- calls and events ---------------------------------------------------------------------
  function setCall(view) {
    const fresh = !call || call.call_id !== view.call_id;
    call = view;
    if (fresh) {
      order = null; suggestion = null; editedSuggestion = false;
      form().reply.value = ""; kbAsked = "";
      notice("");
      renderOrder();
      renderHistory();
    }
    renderCall();
    loadOrder();
  }

  async function refreshCall() {
    if (call && call.state !== "ended") {
      try { setCall(await api(`/calls/${encodeURIComponent(call.call_id)}`)); }
      catch (e) { if (e.status === 404) setCall({ ...call, state: "ended" }); }
    } else if (!call) {
      const { calls } = await api("/calls");
      const mine = calls.find((c) => c.seat === me.seat && c.state !== "ended");
      if (mine) setCall(mine);
    } else {
      loadOrder();   // ended: the linked order's feedback may still arrive
    }
  }

  function onEvent(ev) {
    const c = ev.call;
    if (ev.type === "call_incoming") {
      log(`来电 incoming call ${c.call_id}`);
      setCall(c);
    } else if (ev.type === "call_state" && c) {
      if (call && c.call_id === call.call_id) {
        // after a hand-over the call no longer names my seat: keep my view of the number
        setCall({ ...c, citizen_number: c.citizen_number || call.citizen_number });
        log(`${ev.kind || "state"} → ${c.state}`);
      } else if (c.seat && c.seat === me.seat) {
        setCall(c);
      }
      if (ev.kind === "seat_answered" || ev.kind === "call_ended") refreshSeat();
    } else if (ev.type === "key_refused" && call && ev.call_id === call.call_id) {
      notice(`按键被拒绝 key refused: ${ev.key || ""} ${ev.reason || ""}`);
      log(`key refused ${ev.key || ""}`);
    } else if (ev.type === "suggestion" && call && ev.call_id === call.call_id && ev.suggestion) {
      // the server's new suggestion; its *8 line reaches allowed_actions on the call
      suggestion = ev.suggestion; editedSuggestion = true;
      renderSuggestion();
      refreshCall().catch(() => {});
    } else if (ev.type === "events_lost") {
      refreshCall();
    }
  }

  async function loadCatalogues() {
    const f = form();
    const [{ categories }, { levels }] = await Promise.all([api("/categories"), api("/levels")]);
    f.category.replaceChildren(h("option", { value: "" }, "未分类 uncategorised"),
      ...categories.map((c) => h("option", { value: c.code }, `${c.name} ${c.code}`)));
    f.level.replaceChildren(...levels.map((l) => h("option", { value: l.code }, LEVEL_NAMES[l.code] || l.code)));
    renderOrder();
  }

  function start(user) {
    me = user;
    const status = Hotline.header(user);
    const f = form();
    f.addEventListener("submit", saveOrder);
    document.getElementById("recordings-refresh").addEventListener("click", () => renderRecordings());
    f.summary.addEventListener("input", answersSoon);   // answers follow the text; the suggestion, the save
    loadCatalogues().catch((e) => log(`catalogues: ${e.message}`));
    document.getElementById("seat-pause").onclick = () => seatChange("pause");
    document.getElementById("seat-resume").onclick = () => seatChange("resume");
    renderCall();
    renderOrder();
    refreshSeat().catch(() => {});
    refreshCall().catch(() => {});
    Hotline.events(onEvent, status);
    setInterval(() => { refreshSeat().catch(() => {}); refreshCall().catch(() => {}); }, 3000);
  }

  Hotline.boot({ title: "坐席登录 · Agent log-in", roles: ["agent_12345", "agent_110", "supervisor"], start });
})();
