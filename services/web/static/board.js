/* The supervisor board: seats and queues per site, live calls, overflow, the three
   rates, overdue orders and supervision notices, and a hotspot chart (SVG). */
"use strict";

(() => {
  const { h, fill, api, pill, time, pct, CALL_STATES, SEAT_STATES } = Hotline;
  const SVG = "http://www.w3.org/2000/svg";
  const SITE_NAMES = { "12345": "12345 政务服务热线", "110": "110 报警服务台", remote: "异地 12345 remote seats" };
  const PALETTE = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df", "#1b7c83", "#e16f24",
                   "#6e7781", "#bf3989", "#0550ae", "#4d2d00", "#116329"];

  const recent = new Map();   // call_id -> {call, seen}: calls that ended lately stay visible
  const notices = [];         // live supervision notices
  const joined = new Set();   // listen-in / whisper / barge sessions that have joined
  let hotspotPeriod = "day";

  async function health() {
    // queue figures (waiting, longest wait) are not in /api/v1; the controller's own
    // /healthz carries them per site
    try {
      const resp = await fetch("/healthz", { headers: { Accept: "application/json" } });
      return resp.ok ? await resp.json() : {};
    } catch { return {}; }
  }

  const settle = (p) => p.then((v) => v, (e) => ({ error: e }));

  async function refresh() {
    const [seats, calls, overflow, overdue, rates, hotspots, healthz, levels] = await Promise.all([
      settle(api("/seats")), settle(api("/calls")), settle(api("/overflow")),
      settle(api("/reports/overdue")), settle(api("/reports/rates?by=platform")),
      settle(api(`/reports/hotspots?period=${hotspotPeriod}&top=200`)), health(),
      settle(api("/reports/service-levels")),
    ]);
    renderSites(seats, healthz);
    renderCalls(calls);
    renderOverflow(overflow);
    renderRates(rates);
    renderOverdue(overdue);
    renderHotspots(hotspots);
    renderServiceLevels(levels);
    fill("updated", `更新 updated ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`);
  }

  const failed = (id, res) => (res.error ? (fill(id, h("div", { class: "empty" }, res.error.message)), true) : false);

  function renderSites(res, healthz) {
    if (failed("sites", res)) return;
    const bySite = new Map();
    for (const s of res.seats) {
      if (!bySite.has(s.site)) bySite.set(s.site, []);
      bySite.get(s.site).push(s);
    }
    const load = healthz.load || {};
    fill("sites", [...bySite].map(([site, seats]) => {
      const l = load[site] || {};
      const count = (st) => seats.filter((s) => s.state === st).length;
      return h("div", { class: "site", id: `site-${site}` },
        h("h3", {}, SITE_NAMES[site] || site),
        h("div", { class: "seats" }, seats.map((s) => {
          const state = s.paused ? "paused" : s.state;
          return h("div", { class: `seat st-${state}`, id: `seat-${s.seat}`, dataset: { state },
                            title: SEAT_STATES[state] || state },
            h("b", {}, s.seat), SEAT_STATES[state] || state);
        })),
        h("div", { class: "figures" },
          h("div", {}, h("b", { id: `waiting-${site}` }, l.waiting ?? "–"), "排队 waiting"),
          h("div", {}, h("b", {}, l.longest_wait_s === undefined ? "–" : `${Math.round(l.longest_wait_s)}s`),
            "最长等待 longest wait"),
          h("div", {}, h("b", {}, `${count("available")}/${seats.filter((s) => s.registered).length}`),
            "空闲/在岗 idle/on duty"),
          h("div", {}, h("b", {}, count("busy")), "忙 busy"),
          h("div", {}, h("b", {}, `${l.answered ?? "–"}/${l.arrived ?? "–"}`), "接通/呼入 answered/arrived"),
          h("div", {}, h("b", {}, l.abandoned ?? "–"), "放弃 abandoned"),
          h("div", {}, h("b", {}, l.overflowed ?? "–"), "溢出 overflowed")));
    }));
  }

  function renderCalls(res) {
    if (failed("calls", res)) return;
    const now = Date.now();
    const live = new Set(res.calls.map((c) => c.call_id));
    for (const c of res.calls) recent.set(c.call_id, { call: c, seen: now });
    for (const [id, entry] of recent) {
      if (!live.has(id) && entry.call.state !== "ended") entry.call = { ...entry.call, state: "ended" };
      if (now - entry.seen > 5 * 60 * 1000) recent.delete(id);
    }
    const rows = [...recent.values()].map((e) => e.call).reverse().slice(0, 12);
    // refreshed every few seconds: a supervisor's button stays unless its row changed
    Hotline.fillIfChanged("calls", JSON.stringify(rows), () => rows.length
      ? h("table", { id: "calls-table" },
          h("tr", {}, ["场地 Site", "状态 State", "坐席 Seat", "号码 Number", "工单 Order",
                       "关联 Linked", "承接 Taken by", "监听 Supervise"].map((t) => h("th", {}, t))),
          rows.map((c) => h("tr", { dataset: { call: c.call_id, state: c.state } },
            h("td", {}, c.site, c.via_trunk ? h("span", { class: "muted" }, ` ← ${c.origin_site}`) : ""),
            h("td", {}, pill(c.state, CALL_STATES[c.state] || c.state)),
            h("td", {}, c.seat || "–"), h("td", {}, c.citizen_number || "–"),
            h("td", {}, c.order_id || "–"), h("td", {}, c.linked_order_id || "–"),
            h("td", {}, c.case_taken_by || "–"), h("td", { class: "supervise" }, superviseButtons(c)))))
      : h("div", { class: "empty" }, "暂无通话 no calls"));
  }

  // listen-in (监听), whisper (耳语), barge (强插) on a live answered call: the supervisor's
  // own softphone (my seat) rings; end (结束) hangs it up; recordings (录音) lists the call's
  const SUPERVISE = [["listen", "监听 Listen"], ["whisper", "耳语 Whisper"], ["barge", "强插 Barge"]];
  function superviseButtons(c) {
    const live = c.state !== "ended" && c.seat;
    return [
      ...(live ? SUPERVISE.map(([mode, label]) => h("button", {
        class: `supervise-${mode}`, onclick: () => supervise(c.call_id, mode) }, label)) : []),
      live ? h("button", { class: "supervise-end", onclick: () => endSupervision(c.call_id) }, "结束 End") : null,
      h("button", { class: "recordings", onclick: () => showRecordings(c.call_id) }, "录音 Rec."),
    ];
  }

  async function supervise(callId, mode) {
    const seat = document.getElementById("my-seat").value.trim();
    try {
      const s = await api(`/calls/${encodeURIComponent(callId)}/supervision`,
                          { method: "POST", body: { mode, seat } });
      // a softphone that answers at once joins before this reply arrives: say so
      fill("supervision-notice", joined.has(s.session_id)
        ? `${s.mode} ${s.call_id}: 已接入 joined`
        : `${s.mode} ${s.call_id}: 席位 ${s.seat} 振铃中 ringing (${s.session_id})`);
    } catch (e) {
      fill("supervision-notice", `${mode}: ${e.message}`);
    }
  }

  async function endSupervision(callId) {
    try {
      const res = await api(`/calls/${encodeURIComponent(callId)}/supervision`, { method: "DELETE" });
      fill("supervision-notice", `结束 ended ${res.ended.join(", ") || "–"}`);
    } catch (e) {
      fill("supervision-notice", `end: ${e.message}`);
    }
  }

  async function showRecordings(callId) {
    try {
      const res = await api(`/calls/${encodeURIComponent(callId)}/recordings`);
      fill("board-recordings", Hotline.recordingList(res.recordings, "board-player"));
    } catch (e) {
      fill("board-recordings", h("div", { class: "empty" }, `录音 recordings: ${e.message}`));
    }
  }

  function renderOverflow(res) {
    if (failed("overflow", res)) return;
    const sites = Object.entries(res.status || {});
    fill("overflow", sites.length
      ? sites.map(([site, s]) => h("div", { style: "margin-bottom:10px", id: `overflow-${site}` },
          h("div", {}, h("b", {}, SITE_NAMES[site] || site), " → ", s.to || "–", "  ",
            h("span", { class: s.active ? "overflow-on" : "muted" }, s.active ? "溢出中 ON" : "未溢出 off")),
          h("div", { class: "muted", style: "font-size:12px" },
            "原因 why: ", s.why || "–", " · 开关 switch: ",
            s.forced === true ? "强制开 forced on" : s.forced === false ? "强制关 forced off" : "自动 auto",
            s.reason ? ` (${s.reason})` : "")))
      : h("div", { class: "empty" }, "无溢出策略 no overflow policy"));
  }

  function renderRates(res) {
    if (failed("rates", res)) return;
    if (!res.rows.length) { fill("rates", h("div", { class: "empty" }, "暂无工单 no orders yet")); return; }
    fill("rates", res.rows.map((row) => h("div", { style: "margin-bottom:10px" },
      h("div", { class: "muted" }, `${Object.values(row.group).join(" · ") || "全部 all"} · ${row.orders} 单 orders`),
      h("div", { class: "rates" },
        [["响应率", "response", row.response_rate], ["办结率", "resolution", row.resolution_rate],
         ["满意率", "satisfaction", row.satisfaction_rate]].map(([zh, en, v]) =>
          h("div", { class: "rate" },
            h("div", { class: "value" }, pct(v)), h("div", { class: "muted" }, `${zh} ${en}`),
            h("div", { class: "bar" }, h("i", { style: `width:${v === null ? 0 : Math.round(v * 100)}%` }))))))));
  }

  function renderOverdue(res) {
    if (failed("overdue", res)) return;
    const hours = (s) => (s >= 86400 ? `${(s / 86400).toFixed(1)} 天 d` : `${(s / 3600).toFixed(1)} 小时 h`);
    fill("overdue", res.items.length
      ? h("table", {},
          h("tr", {}, ["工单 Order", "平台", "时限 Level", "截止 Deadline", "超期 Overdue by", "督办 Tier"]
            .map((t) => h("th", {}, t))),
          res.items.slice(0, 10).map((i) => h("tr", {},
            h("td", {}, i.order_id), h("td", {}, i.platform), h("td", {}, i.level || "–"),
            h("td", {}, time(i.deadline_at)), h("td", {}, pill("overdue", hours(i.overdue_by_s))),
            h("td", {}, `第 ${i.tier} 级`))))
      : h("div", { class: "empty" }, "无超期工单 nothing overdue"));
    fill("notices", notices.slice(0, 6).map((n) =>
      h("li", {}, h("span", { class: "muted" }, time(n.at), " 督办通知 "), n.text)));
  }

  // ---- the hotspot chart: per period, one stacked bar per region, stacked by category --------
  function renderHotspots(res) {
    const box = document.getElementById("hotspots");
    if (res.error) { fill("hotspots", h("div", { class: "empty" }, res.error.message)); return; }
    const periods = [...new Set(res.rows.map((r) => r.period))].sort().slice(-12);
    const regions = [...new Set(res.rows.map((r) => r.region))].sort();
    const totals = new Map();
    for (const r of res.rows) totals.set(r.category, (totals.get(r.category) || 0) + r.orders);
    const categories = [...totals].sort((a, b) => b[1] - a[1]).map(([c]) => c);
    const colour = (c) => PALETTE[categories.indexOf(c) % PALETTE.length];
    const controls = h("div", { style: "display:flex; gap:6px; margin-bottom:6px" },
      ["day", "week", "month"].map((p) => h("button", {
        class: p === hotspotPeriod ? "primary" : "", onclick: () => { hotspotPeriod = p; refresh(); },
      }, { day: "日 day", week: "周 week", month: "月 month" }[p])));
    if (!periods.length) {
      box.replaceChildren(controls, h("div", { class: "empty" }, "暂无工单 no orders yet"));
      return;
    }
    const stack = new Map();   // period|region -> [[category, n]]
    for (const r of res.rows) {
      if (!periods.includes(r.period)) continue;
      const key = `${r.period}|${r.region}`;
      if (!stack.has(key)) stack.set(key, []);
      stack.get(key).push([r.category, r.orders]);
    }
    const height = 260, top = 16, bottom = 44, left = 40, right = 12;
    const width = Math.max(box.clientWidth || 900, 480);
    const plotH = height - top - bottom;
    const groupW = (width - left - right) / periods.length;
    const barW = Math.min(46, (groupW * 0.8) / regions.length);
    const max = Math.max(1, ...[...stack.values()].map((cs) => cs.reduce((a, [, n]) => a + n, 0)));
    const y = (n) => top + plotH - (n / max) * plotH;
    const svg = document.createElementNS(SVG, "svg");
    const el = (tag, attrs, text) => {
      const e = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    svg.setAttribute("class", "chart");
    svg.setAttribute("id", "hotspot-chart");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "hotspots by category and region over time");
    const step = Math.max(1, Math.ceil(max / 5));
    for (let n = 0; n <= max; n += step) {
      el("line", { x1: left, x2: width - right, y1: y(n), y2: y(n), stroke: "#eef1f4" });
      el("text", { x: left - 6, y: y(n) + 4, "text-anchor": "end" }, n);
    }
    periods.forEach((period, i) => {
      const x0 = left + i * groupW + (groupW - barW * regions.length) / 2;
      regions.forEach((region, j) => {
        let acc = 0;
        const x = x0 + j * barW;
        for (const [category, n] of (stack.get(`${period}|${region}`) || []).sort(
          (a, b) => categories.indexOf(a[0]) - categories.indexOf(b[0]))) {
          const r = el("rect", { x: x + 2, y: y(acc + n), width: barW - 4, height: Math.max(1, y(acc) - y(acc + n)),
                                 fill: colour(category), rx: 2 });
          const tip = document.createElementNS(SVG, "title");
          tip.textContent = `${period} · ${region} · ${category}: ${n}`;
          r.append(tip);
          acc += n;
        }
        if (acc) el("text", { x: x + barW / 2, y: y(acc) - 3, "text-anchor": "middle" }, acc);
        el("text", { x: x + barW / 2, y: top + plotH + 14, "text-anchor": "middle" }, region);
      });
      el("text", { x: left + i * groupW + groupW / 2, y: top + plotH + 32, "text-anchor": "middle",
                   style: "fill:#1d2733" }, period);
    });
    el("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, stroke: "#8c959f" });
    const legend = h("div", { class: "legend" },
      h("span", { class: "muted" }, "类别 category: "),
      categories.map((c) => h("span", {}, h("i", { style: `background:${colour(c)}` }), c)),
      h("span", { class: "muted" }, " · 柱下为行政区划代码 region code under each bar"),
      res.complete ? null : h("span", { class: "muted" }, " · 仅统计最近工单 partial"));
    box.replaceChildren(controls, svg, legend);
  }

  // ---- service levels: per site, the last 12 hours as bars (answer rate) with marks for
  // answered within 15 s (dot) and 20 s (tick), and the NENA targets as dashed lines -------
  const LEVEL_SERIES = [["answer_rate", "接通率 answered", "#2da44e"],
                        ["within_15s_rate", "15 s 内 within 15 s", "#1f6feb"],
                        ["within_20s_rate", "20 s 内 within 20 s", "#8250df"],
                        ["abandonment_rate", "放弃率 abandoned", "#cf222e"]];

  function renderServiceLevels(res) {
    const box = document.getElementById("service-levels");
    if (res.error) { fill("service-levels", h("div", { class: "empty" }, res.error.message)); return; }
    const bySite = new Map();
    for (const r of res.rows) {
      if (!bySite.has(r.site)) bySite.set(r.site, []);
      bySite.get(r.site).push(r);
    }
    const charts = [...bySite].map(([site, rows]) => {
      const hours = rows.slice(-12);
      const width = 300, height = 120, top = 8, bottom = 18, left = 26;
      const plotH = height - top - bottom, slot = (width - left) / hours.length;
      const y = (v) => top + plotH - v * plotH;
      const svg = document.createElementNS(SVG, "svg");
      const el = (tag, attrs, text) => {
        const e = document.createElementNS(SVG, tag);
        for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
        if (text !== undefined) e.textContent = text;
        svg.append(e);
        return e;
      };
      svg.setAttribute("class", "chart service-level-chart");
      svg.setAttribute("id", `service-levels-${site}`);
      svg.setAttribute("width", width);
      svg.setAttribute("height", height);
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `service levels of site ${site} per hour`);
      for (const [v, label] of [[0, "0"], [0.9, "90%"], [1, ""]]) {
        el("line", { x1: left, x2: width, y1: y(v), y2: y(v), stroke: v ? "#bf8700" : "#8c959f",
                     "stroke-dasharray": v ? "3 3" : "" });
        if (label) el("text", { x: left - 3, y: y(v) + 4, "text-anchor": "end" }, label);
      }
      hours.forEach((row, i) => {
        const x = left + i * slot;
        const tip = `${row.hour.slice(11, 16)} · ${row.offered} 呼入 offered · 接通 ${pct(row.answer_rate)}` +
          ` · 15s ${pct(row.within_15s_rate)} · 20s ${pct(row.within_20s_rate)}` +
          ` · 放弃 ${pct(row.abandonment_rate)} · 平均等待 ${row.average_wait_s ?? "–"}s` +
          ` · p90 ${row.p90_wait_s ?? "–"}s · 平均处理 ${row.average_handling_s ?? "–"}s`;
        if (row.answer_rate !== null) {
          const bar = el("rect", { x: x + 2, y: y(row.answer_rate), width: Math.max(2, slot - 4),
                                   height: Math.max(1, y(0) - y(row.answer_rate)), fill: "#2da44e", rx: 2,
                                   "data-hour": row.hour, "data-offered": row.offered });
          const title = document.createElementNS(SVG, "title");
          title.textContent = tip;
          bar.append(title);
          el("circle", { cx: x + slot / 2, cy: y(row.within_15s_rate), r: 2.5, fill: "#1f6feb" });
          el("line", { x1: x + 3, x2: x + slot - 3, y1: y(row.within_20s_rate), y2: y(row.within_20s_rate),
                       stroke: "#8250df", "stroke-width": 2 });
          if (row.abandonment_rate) el("rect", { x: x + slot / 2 - 1.5, y: y(row.abandonment_rate), width: 3,
                                                 height: y(0) - y(row.abandonment_rate), fill: "#cf222e" });
        }
        if (i % 3 === 0) el("text", { x: x + slot / 2, y: height - 4, "text-anchor": "middle" },
                            row.hour.slice(11, 16));   // the hour in UTC, as the API gives it
      });
      const last = [...hours].reverse().find((r) => r.offered) || hours[hours.length - 1] || {};
      return h("div", { class: "site", id: `levels-${site}` },
        h("h3", {}, SITE_NAMES[site] || site), svg,
        h("div", { class: "figures" },
          LEVEL_SERIES.map(([key, label]) => h("div", {}, h("b", {}, pct(last[key] ?? null)), label)),
          h("div", {}, h("b", {}, last.average_wait_s ?? "–"), "平均等待 s avg wait"),
          h("div", {}, h("b", {}, last.p90_wait_s ?? "–"), "p90 等待 s"),
          h("div", {}, h("b", {}, last.average_handling_s ?? "–"), "平均处理 s AHT")));
    });
    const legend = h("div", { class: "legend" }, LEVEL_SERIES.map(([, label, colour]) =>
      h("span", {}, h("i", { style: `background:${colour}` }), label)),
      h("span", { class: "muted" }, " · 虚线 90% (NENA) · 近 12 小时 last 12 hours, UTC"));
    box.replaceChildren(h("div", { class: "sites" }, charts), legend);
  }

  // ---- events: refresh soon after anything changes ----------------------------------------
  let soon = null;
  function onEvent(ev) {
    if (ev.type === "supervision") {
      notices.unshift({ at: new Date().toISOString(), text: ev.order_id ? `${ev.order_id} ${ev.note || ""}` : JSON.stringify(ev) });
    }
    if (ev.type === "supervision_joined") joined.add(ev.session_id);
    if (ev.type === "supervision_joined" || ev.type === "supervision_ended") {
      fill("supervision-notice", `${ev.mode} ${ev.call_id}: ${ev.type === "supervision_joined" ? "已接入 joined" : "已结束 ended"}`);
    }
    if (ev.type === "call_state" && ev.call) recent.set(ev.call.call_id, { call: ev.call, seen: Date.now() });
    clearTimeout(soon);
    soon = setTimeout(() => refresh().catch(() => {}), 250);
  }

  function start(user) {
    const status = Hotline.header(user);
    document.getElementById("my-seat").value = user.seat || "";
    refresh().catch(() => {});
    Hotline.events(onEvent, status);
    setInterval(() => refresh().catch(() => {}), 5000);
  }

  Hotline.boot({ title: "督办登录 · Supervisor log-in", roles: ["supervisor", "ops"], start });
})();
