// The pymiio bridge dashboard: plain JavaScript, no build step, nothing fetched from elsewhere.
// Text from devices is always set as text (never as HTML).
"use strict";

const state = {
  devices: new Map(),       // name -> summary row
  sort: { key: "name", desc: false },
  filter: "",
  device: null,             // the detail of the device page shown
  bridge: null,
  page: "",
  renderDue: false,
  ticket: 0,                // counts navigations: a late answer for a page left is dropped
  latest: new Map(),
  refetched: new Set(),        // name -> the last state event (values, seq), kept while a page loads
};

// -- helpers ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key in element && key !== "list") element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { showLogin(); throw new Error("the dashboard's token is needed"); }
  let answer = null;
  try { answer = await response.json(); } catch (e) { answer = null; }
  if (!response.ok) throw new Error((answer && answer.error) || `HTTP ${response.status}`);
  return answer;
}

function ago(when) {
  if (!when) return "never";
  const seconds = Math.max(0, Date.now() / 1000 - when);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), hh = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
  return d ? `${d} d ${hh} h` : hh ? `${hh} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}

function availability(online) {
  if (online === true) return h("span", { className: "pill on" }, "online");
  if (online === false) return h("span", { className: "pill off" }, "offline");
  return h("span", { className: "pill" }, "unknown");
}

function shown(value, prop) {
  if (value === undefined) return "—";
  if (prop && prop.choices && prop.choices.length) {
    const choice = prop.choices.find((c) => c.value === value);
    if (choice && choice.label) return `${choice.label} (${value})`;
  }
  if (typeof value === "boolean") return value ? "on" : "off";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return prop && prop.unit && typeof value === "number" ? `${text} ${prop.unit}` : text;
}

function status(message, ok) {
  const line = document.getElementById("status");
  if (!line) return;
  line.textContent = message;
  line.className = ok ? "ok" : "error";
}

function setNav(page) {
  for (const id of ["devices", "bridge", "add"]) {
    document.getElementById(`nav-${id}`).classList.toggle("active", id === page);
  }
}

// -- the device list -------------------------------------------------------------------------

const COLUMNS = [
  ["name", "Name"], ["model", "Model"], ["address", "Address"], ["online", "State"],
  ["mode", "Updates"], ["last_seen", "Last seen"], ["firmware", "Firmware"],
  ["rssi", "Wi-Fi"], ["last_error", "Last error"],
];

function compare(a, b, key) {
  const x = a[key], y = b[key];
  if (x === y) return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  if (typeof x === "number" && typeof y === "number") return x - y;
  return String(x).localeCompare(String(y), undefined, { numeric: true });
}

function visibleDevices() {
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = [...state.devices.values()].filter((d) => {
    const text = [d.name, d.model, d.address, d.firmware, d.online === false ? "offline" :
      "online", d.mode].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  rows.sort((a, b) => compare(a, b, state.sort.key));
  if (state.sort.desc) rows.reverse();
  return rows;
}

function deviceRow(d) {
  return h("tr", { dataset: { name: d.name } },
    h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.name)}` }, d.name)),
    h("td", {}, d.model || "—"), h("td", {}, d.address || "—"),
    h("td", {}, availability(d.online)), h("td", {}, d.mode),
    h("td", { className: "age", title: d.last_seen ?
      new Date(d.last_seen * 1000).toLocaleString() : "" }, ago(d.last_seen)),
    h("td", {}, d.firmware || "—"), h("td", {}, d.rssi === null ? "—" : `${d.rssi} dBm`),
    h("td", { className: "error", title: d.last_error || "" }, d.last_error || ""));
}

// Rows are built once per change of their data and reused: with a thousand devices a render
// moves existing rows instead of building ten thousand cells.
const rowCache = new Map();  // name -> {data, tr}
let shownOrder = [];

function rowFor(d) {
  let cached = rowCache.get(d.name);
  if (!cached || cached.data !== d) {
    const tr = deviceRow(d);
    if (cached && cached.tr.parentNode) cached.tr.replaceWith(tr);
    cached = { data: d, tr };
    rowCache.set(d.name, cached);
  }
  return cached.tr;
}

function refreshAges() {
  for (const { data, tr } of rowCache.values()) {
    const cell = tr.querySelector("td.age");
    if (cell) cell.textContent = ago(data.last_seen);
  }
}

function renderDevices() {
  const main = document.getElementById("main");
  let body = document.getElementById("device-rows");
  if (!body) {
    const filter = h("input", { type: "search", id: "filter", placeholder:
      "Filter by name, model, address, online/offline…", value: state.filter,
      oninput: (e) => { state.filter = e.target.value; renderDevices(); } });
    const head = h("tr", {}, COLUMNS.map(([key, title]) => h("th", {
      dataset: { key }, onclick: () => {
        state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : false };
        renderDevices();
      } }, title)));
    body = h("tbody", { id: "device-rows" });
    shownOrder = [];
    main.replaceChildren(h("h1", {}, "Devices"),
      h("div", { className: "toolbar" }, filter, h("span", { id: "count", className: "muted" })),
      h("table", { id: "devices" }, h("thead", {}, head), body));
  }
  for (const th of main.querySelectorAll("th")) {
    th.classList.toggle("sorted", th.dataset.key === state.sort.key);
    th.classList.toggle("desc", th.dataset.key === state.sort.key && state.sort.desc);
  }
  const rows = visibleDevices();
  const elements = rows.map(rowFor);  // changed rows are swapped in place here
  const order = rows.map((d) => d.name);
  if (order.length !== shownOrder.length || order.some((n, i) => n !== shownOrder[i])) {
    body.replaceChildren(...elements);
    shownOrder = order;
  }
  for (const name of rowCache.keys()) if (!state.devices.has(name)) rowCache.delete(name);
  document.getElementById("count").textContent =
    `${rows.length} of ${state.devices.size} device(s)`;
}

// -- one device ------------------------------------------------------------------------------

function send(kind, body) {
  const name = state.device.name;
  status(`${kind}…`, true);
  return api("POST", `/api/devices/${encodeURIComponent(name)}/${kind}`, body)
    .then(() => status(`${kind} ${JSON.stringify(body)}: ok`, true))
    .catch((error) => status(`${kind} ${JSON.stringify(body)}: ${error.message}`, false));
}

function parsed(text, prop) {
  if (prop && ["float", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64",
    "uint64"].includes(prop.format) && text.trim() !== "" && !isNaN(Number(text))) {
    return Number(text);
  }
  return text;
}

function inputFor(prop, value, onChange) {
  if (prop.format === "bool") {
    return h("input", { type: "checkbox", className: "switch", checked: value === true,
      dataset: { prop: prop.name }, onchange: (e) => onChange(e.target.checked) });
  }
  if (prop.choices && prop.choices.length) {
    return h("select", { dataset: { prop: prop.name }, onchange: (e) => {
      const choice = prop.choices[e.target.selectedIndex];
      onChange(choice.value);
    } }, prop.choices.map((c) => h("option", { value: String(c.value),
      selected: c.value === value }, c.label ? `${c.label} (${c.value})` : String(c.value))));
  }
  if (prop.range) {
    const [low, high, step] = prop.range;
    const output = h("output", {}, value === undefined ? "" : String(value));
    const slider = h("input", { type: "range", min: low, max: high, step: step || "any",
      value: value === undefined ? low : value, dataset: { prop: prop.name },
      oninput: (e) => { output.textContent = e.target.value; },
      onchange: (e) => onChange(Number(e.target.value)) });
    return h("span", { className: "control" }, slider, output, prop.unit || "");
  }
  const field = h("input", { type: "text", value: value === undefined ? "" :
    (typeof value === "string" ? value : JSON.stringify(value)), dataset: { prop: prop.name } });
  return h("span", { className: "control" }, field,
    h("button", { className: "secondary", onclick: () => onChange(parsed(field.value, prop)) },
      "Set"));
}

function stateRows(detail) {
  const rows = [];
  for (const prop of detail.properties) {
    const value = detail.values[prop.name];
    if (!prop.writable && value === undefined) continue;  // not read (device information)
    const control = prop.writable ? inputFor(prop, value,
      (v) => send("set", { [prop.name]: v })) : null;
    rows.push(h("tr", { dataset: { name: prop.name } },
      h("td", { title: prop.description || "" }, prop.name),
      h("td", { dataset: { value: prop.name } }, shown(value, prop)),
      h("td", {}, control || "")));
  }
  return rows;
}

function actionRow(action) {
  const inputs = action.inputs.map((prop) => {
    const holder = { value: undefined };
    const field = prop.choices && prop.choices.length ? inputFor(prop, undefined,
      (v) => { holder.value = v; }) : h("input", { type: "text", placeholder: prop.name,
        oninput: (e) => { holder.value = parsed(e.target.value, prop); } });
    if (prop.choices && prop.choices.length) holder.value = prop.choices[0].value;
    return { prop, holder, field };
  });
  const run = () => send("action", { name: action.name,
    args: inputs.map((i) => i.holder.value) });
  return h("div", { className: "action", title: action.description || "" },
    h("button", { dataset: { action: action.name }, onclick: run }, action.name),
    inputs.map((i) => h("label", {}, `${i.prop.name}: `, i.field)));
}

function historyLine(entry) {
  const when = new Date(entry.at * 1000).toLocaleTimeString();
  return `${when}  ${entry.what}  ${JSON.stringify(entry.value)}`;
}

function renderDevice() {
  const d = state.device;
  const main = document.getElementById("main");
  if (!d) { main.replaceChildren(h("p", { className: "muted" }, "Loading…")); return; }
  const cards = [["Model", d.model || "—"], ["Address", d.address || "—"],
    ["State", availability(d.online)], ["Updates", `${d.mode}, every ${d.interval} s`],
    ["Last seen", ago(d.last_seen)], ["Firmware", d.firmware || "—"],
    ["Wi-Fi signal", d.rssi === null ? "—" : `${d.rssi} dBm`],
    ["Last error", d.last_error || "none"]];
  const rename = h("input", { type: "text", id: "rename", placeholder: "new name" });
  main.replaceChildren(
    h("h1", {}, d.name),
    h("div", { className: "grid", id: "facts" }, cards.map(([label, value]) =>
      h("div", { className: "card" }, h("div", { className: "label" }, label),
        h("div", { className: "big" }, value)))),
    h("div", { id: "status" }),
    h("div", { className: "columns" },
      h("section", {},
        h("h2", {}, "State"),
        d.properties.length ? h("table", { className: "state", id: "state" },
          h("tbody", {}, stateRows(d))) :
          h("p", { className: "muted" }, "Not described yet: the device has not answered."),
        d.actions.length ? h("h2", {}, "Actions") : null,
        h("div", { className: "actions" }, d.actions.map(actionRow))),
      h("section", {},
        h("h2", {}, "History"),
        h("pre", { className: "history", id: "history" },
          [...d.history].reverse().map(historyLine).join("\n") || "nothing yet"),
        h("h2", {}, "Manage"),
        h("div", { className: "manage" }, rename, h("button", { className: "secondary",
          onclick: () => renameDevice(d.name, rename.value) }, "Rename"),
        h("button", { className: "danger", id: "remove",
          onclick: () => removeDevice(d.name) }, "Remove")))));
}

function updateValues(values) {
  const d = state.device;
  Object.assign(d.values, values);
  for (const prop of d.properties) {
    if (!(prop.name in values)) continue;
    const value = values[prop.name];
    const cell = document.querySelector(`td[data-value="${CSS.escape(prop.name)}"]`);
    if (cell) cell.textContent = shown(value, prop);
    const input = document.querySelector(`[data-prop="${CSS.escape(prop.name)}"]`);
    if (!input || input === document.activeElement) continue;
    if (input.type === "checkbox") input.checked = value === true;
    else if (input.tagName === "SELECT") {
      const index = prop.choices.findIndex((c) => c.value === value);
      if (index >= 0) input.selectedIndex = index;
    } else {
      input.value = typeof value === "string" ? value : JSON.stringify(value);
      const output = input.parentElement.querySelector("output");
      if (output) output.textContent = input.value;
    }
  }
}

async function renameDevice(name, to) {
  try {
    await api("POST", `/api/devices/${encodeURIComponent(name)}/rename`, { name: to.trim() });
    location.hash = `#/device/${encodeURIComponent(to.trim())}`;
  } catch (error) { status(`rename: ${error.message}`, false); }
}

async function removeDevice(name) {
  if (!confirm(`Remove ${name} from the inventory? The bridge stops serving it.`)) return;
  try {
    await api("DELETE", `/api/devices/${encodeURIComponent(name)}`);
    state.devices.delete(name);
    location.hash = "#/";
  } catch (error) { status(`remove: ${error.message}`, false); }
}

// -- the bridge ------------------------------------------------------------------------------

function logLine(line) {
  const when = new Date(line.at * 1000).toLocaleTimeString();
  return h("div", { className: line.level }, `${when} ${line.level.padEnd(7)} ${line.message}`);
}

function renderBridge() {
  const b = state.bridge;
  const main = document.getElementById("main");
  if (!b) { main.replaceChildren(h("p", { className: "muted" }, "Loading…")); return; }
  const broker = `${b.broker.host}:${b.broker.port}`;
  const cards = [
    ["Broker", h("span", {}, availability(b.broker.connected), " ", broker)],
    ["Connection changed", b.broker.since ? ago(b.broker.since) : "—"],
    ["Base topic", b.base_topic], ["Uptime", duration(b.uptime)],
    ["Devices online", `${b.online} of ${b.devices}`], ["Poll interval", `${b.interval} s`],
    ["Polls per minute", b.polls_per_minute], ["Pushes per minute", b.pushes_per_minute],
    ["Errors per minute", b.errors_per_minute], ["Errors since start", b.errors]];
  if (b.broker.error) cards.push(["Broker error", b.broker.error]);
  const log = h("div", { className: "log", id: "log" }, b.log.map(logLine));
  main.replaceChildren(h("h1", {}, "Bridge"),
    h("div", { className: "grid", id: "bridge" }, cards.map(([label, value]) =>
      h("div", { className: "card" }, h("div", { className: "label" }, label),
        h("div", { className: "big" }, value)))),
    h("h2", {}, "Log"), log);
  log.scrollTop = log.scrollHeight;
}

// -- adding a device -------------------------------------------------------------------------

function renderAdd() {
  const field = (id, label, attrs) => [h("label", { htmlFor: id }, label),
    h("input", { id, name: id, required: true, autocomplete: "off", ...attrs })];
  const form = h("form", { className: "add", id: "add", onsubmit: async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { name: data.get("name"), host: data.get("host"), token: data.get("token") };
    status("checking the device…", true);
    try {
      const answer = await api("POST", "/api/devices", body);
      status(`added ${answer.name} (${answer.model || "model unknown"})`, true);
      location.hash = `#/device/${encodeURIComponent(answer.name)}`;
    } catch (error) { status(error.message, false); }
  } },
  field("name", "Name", { placeholder: "kitchen-plug", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" }),
  field("host", "Address", { placeholder: "192.168.1.20" }),
  field("token", "Token", { type: "password", placeholder: "32 hex digits" }),
  h("button", { type: "submit" }, "Check and add"));
  document.getElementById("main").replaceChildren(h("h1", {}, "Add a device"),
    h("p", { className: "muted" }, "The device is asked for its miIO.info with this token " +
      "before it is saved to the inventory; the bridge serves it at once."),
    form, h("div", { id: "status" }));
}

// -- login -----------------------------------------------------------------------------------

function showLogin() {
  const token = h("input", { type: "password", id: "token", autocomplete: "off" });
  document.getElementById("main").replaceChildren(h("h1", {}, "Token"),
    h("form", { className: "add", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("POST", "/api/login", { token: token.value });
        location.reload();
      } catch (error) { status(error.message, false); }
    } }, h("label", { htmlFor: "token" }, "Token"), token, h("button", { type: "submit" },
      "Open")), h("div", { id: "status" }));
}

// -- routing and the live stream -------------------------------------------------------------

async function route() {
  const hash = location.hash || "#/";
  const ticket = ++state.ticket;
  const current = () => ticket === state.ticket;
  if (hash.startsWith("#/device/")) {
    const name = decodeURIComponent(hash.slice(9));
    state.page = "device"; setNav("");
    state.device = null; renderDevice();
    let detail;
    try { detail = await api("GET", `/api/devices/${encodeURIComponent(name)}`); }
    catch (error) {
      if (current()) {
        document.getElementById("main").replaceChildren(h("p", {}, `${name}: ${error.message}`));
      }
      return;
    }
    if (!current()) return;
    const newer = state.latest.get(name);  // a state that arrived while the page loaded
    if (newer && newer.seq > detail.seq) detail.values = newer.values;
    state.device = detail;
    renderDevice();
  } else if (hash === "#/bridge") {
    state.page = "bridge"; setNav("bridge");
    const bridge = await api("GET", "/api/bridge");
    if (current()) { state.bridge = bridge; renderBridge(); }
  } else if (hash === "#/add") {
    state.page = "add"; setNav("add"); renderAdd();
  } else {
    state.page = "devices"; setNav("devices");
    document.getElementById("main").replaceChildren();
    const rows = await api("GET", "/api/devices");
    if (!current()) return;
    state.devices = new Map(rows.map((d) => [d.name, d]));
    renderDevices();
  }
}

function scheduleList() {
  if (state.page !== "devices" || state.renderDue) return;
  state.renderDue = true;
  requestAnimationFrame(() => {
    state.renderDue = false;
    if (state.page === "devices") renderDevices();  // the page may have changed meanwhile
  });
}

function onEvent(event) {
  const d = state.device;
  switch (event.type) {
    case "devices":
      for (const row of event.items) state.devices.set(row.name, row);
      scheduleList();
      if (state.page === "device" && d) {
        const row = event.items.find((r) => r.name === d.name);
        if (row) {
          Object.assign(d, row); refreshFacts();
          // described since the page loaded (a device just added): fetch its controls once
          if (!d.properties.length && row.online && !state.refetched.has(d.name)) {
            state.refetched.add(d.name); route();
          }
        }
      }
      break;
    case "dropped":
      state.devices.delete(event.device); scheduleList(); break;
    case "state":
      state.latest.set(event.device, event);
      if (state.page === "device" && d && d.name === event.device) {
        if (!d.properties.length) { route(); break; }
        updateValues(event.values);
      }
      break;
    case "history":
      if (state.page === "device" && d && d.name === event.device) {
        d.history.push(event.entry);
        const pre = document.getElementById("history");
        if (pre) pre.textContent = [...d.history].reverse().map(historyLine).join("\n");
      }
      break;
    case "log":
      if (state.page === "bridge" && state.bridge) {
        const log = document.getElementById("log");
        log.append(logLine(event.line));
        while (log.childElementCount > 200) log.firstElementChild.remove();
        log.scrollTop = log.scrollHeight;
      }
      break;
    case "bridge":
      if (state.page === "bridge") route();
      break;
  }
}

function refreshFacts() {
  const d = state.device, facts = document.getElementById("facts");
  if (!facts) return;
  const values = facts.querySelectorAll(".big");
  values[2].replaceChildren(availability(d.online));
  values[4].textContent = ago(d.last_seen);
  values[7].textContent = d.last_error || "none";
}

function connect() {
  const pill = document.getElementById("connection");
  const stream = new EventSource("/api/events");
  stream.onopen = () => { pill.textContent = "live"; pill.className = "pill on"; };
  stream.onmessage = (message) => onEvent(JSON.parse(message.data));
  stream.onerror = () => { pill.textContent = "reconnecting…"; pill.className = "pill off"; };
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  route().catch(() => {});
  connect();
  setInterval(() => {  // relative times and the bridge's counters
    if (state.page === "devices") refreshAges();
    else if (state.page === "bridge") api("GET", "/api/bridge")
      .then((b) => { if (state.page === "bridge") { state.bridge = b; renderBridge(); } })
      .catch(() => {});
  }, 5000);
});
