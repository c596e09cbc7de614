// The wasmchain explorer: one page served by the node itself (GET /), talking to it over JSON-RPC
// (POST /) and a WebSocket subscription (/ws), with a fallback to polling chain_info.
//
// Plain ES module, no build step, nothing fetched from anywhere but the node. Every value that comes
// from the chain (names, strings, error messages) enters the page as text (textContent, text nodes,
// attribute values of our own links), never as markup: nothing in this file parses HTML.

// -- dev keys -----------------------------------------------------------------------------------------

// The devnet's funded accounts dev0..dev9 (chain/protocol/keys.py: dev_key, from the published
// insecure seed). tests/browser/test_explorer_files.py checks this table against dev_key.
export const DEV_ADDRESSES = [
  "0xeca9850e1feac3a3a4875bb4a7a7236e3105cf72",
  "0xb42cb145cf0ed2e67a107d07913f99fa6923ef21",
  "0x040e32b2c7cdc89ee7efa3ae90ca289b1323646d",
  "0x57816d40fbd0bed33650cd5ea636f51c4b88759b",
  "0xc6e44fd19bc0d7c482b6a4a27e2a46eebd695904",
  "0x0dd11b2988ce203bcb96003e75e876f80e848a0c",
  "0xe22aa99e292bac3a06260f36ff1c2afc7a63b3db",
  "0x645a98ff66c940a89f9d1beff3ae455936016498",
  "0x81f654ab501bc8bfec6b821d1580dd30004f0cd5",
  "0x87d6cd216a5a89f32259867ccf18a8efe4ec42cd",
];

const ZERO_ADDRESS = "0x" + "0".repeat(40);
const RECENT_BLOCKS = 20; // on the home page
const SCAN_BLOCKS = 200; // blocks searched for an account's transactions
const STORAGE_PAGE = 50; // storage keys a page of the storage browser lists (get_storage)
const POLL_MS = 1000; // without a live subscription
const CHECK_MS = 5000; // with one: catches reverts, which no block notification announces
const RECONNECT_MS = 15000;

function devName(address) {
  const index = DEV_ADDRESSES.indexOf(String(address).toLowerCase());
  return index < 0 ? null : `dev${index}`;
}

// -- JSON with big integers ------------------------------------------------------------------------------

// Amounts go past 2**53 (docs/rpc.md, Values): integers that do not fit a double are parsed as BigInt.
export function parseJSON(text) {
  let i = 0;
  const fail = (what) => {
    throw new SyntaxError(`bad JSON at ${i}: ${what}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out = {};
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("a key");
        const key = string();
        ws();
        if (text[i++] !== ":") fail("':'");
        out[key] = value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return out;
        } else fail("',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const out = [];
      ws();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return out;
        } else fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail("a value");
    i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    return Number(m[0]);
  };
  const string = () => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("an unterminated string");
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const result = value();
  ws();
  if (i !== text.length) fail("trailing characters");
  return result;
}

export function toJSON(value, indent = "", step = "") {
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  const inner = indent + step;
  const nl = step ? "\n" : "";
  const sep = step ? ": " : ":";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[${nl}${value.map((v) => inner + toJSON(v, inner, step)).join("," + nl)}${nl}${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  const body = entries.map(([k, v]) => inner + JSON.stringify(k) + sep + toJSON(v, inner, step));
  return `{${nl}${body.join("," + nl)}${nl}${indent}}`;
}

// -- JSON-RPC -----------------------------------------------------------------------------------------------

class RPCError extends Error {
  constructor(error) {
    super(String(error.message ?? "error"));
    this.code = error.code;
    this.reason = error.data?.reason ?? null;
  }
}

let nextId = 1;

async function post(body) {
  let response;
  try {
    response = await fetch("/", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  } catch (e) {
    throw new RPCError({ message: `the node could not be reached (${e.message})`, data: { reason: "unreachable" } });
  }
  const text = await response.text();
  if (response.status === 204) return null;
  try {
    return parseJSON(text);
  } catch {
    throw new RPCError({ message: `HTTP ${response.status}: not a JSON-RPC answer`, data: { reason: "http" } });
  }
}

async function rpc(method, params) {
  const answer = await post(toJSON({ jsonrpc: "2.0", id: nextId++, method, params: params ?? {} }));
  if (answer.error) throw new RPCError(answer.error);
  return answer.result;
}

// Calls in one request; each answer is {result} or {error: RPCError}, in the calls' order.
async function batch(calls) {
  if (!calls.length) return [];
  const first = nextId;
  nextId += calls.length;
  const body = calls.map(([method, params], k) => ({ jsonrpc: "2.0", id: first + k, method, params: params ?? {} }));
  const answers = await post(toJSON(body));
  if (!Array.isArray(answers)) throw new RPCError(answers?.error ?? { message: "not a batch answer" });
  const byId = new Map(answers.map((a) => [a.id, a]));
  return calls.map((_, k) => {
    const a = byId.get(first + k);
    if (!a) return { error: new RPCError({ message: "no answer" }) };
    return a.error ? { error: new RPCError(a.error) } : { result: a.result };
  });
}

// -- the DOM, as text -------------------------------------------------------------------------------------

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function svg(tag, props, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  if (!props) return;
  for (const [key, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (key === "class") el.setAttribute("class", v);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), v);
    else el.setAttribute(key, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (id) => document.getElementById(id);

function fmt(n) {
  if (n === null || n === undefined) return "–";
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function short(hex) {
  const s = String(hex);
  return s.length > 18 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s;
}

function timeText(ts) {
  const n = Number(ts);
  if (!Number.isSafeInteger(n) || n * 1000 > 8.64e15) return String(ts);
  return new Date(n * 1000).toISOString().replace(".000Z", "Z");
}

function linkBlock(height, label) {
  return h("a", { href: `#/block/${encodeURIComponent(String(height))}`, class: "mono" }, label ?? `#${height}`);
}

function linkTx(hash, full = false) {
  return h("a", { href: `#/tx/${encodeURIComponent(hash)}`, class: full ? "mono hash" : "mono nowrap", title: hash }, full ? hash : short(hash));
}

function linkAddress(address, full = false) {
  if (address === null || address === undefined) return h("span", { class: "muted" }, "–");
  const name = devName(address);
  return h(
    "a",
    { href: `#/address/${encodeURIComponent(address)}`, class: full ? "mono hash" : "mono nowrap", title: address },
    name ? h("span", { class: "tag" }, name) : null,
    full ? address : short(address),
  );
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status === "ok" ? "ok" : "bad"}` }, String(status));
}

function kv(rows) {
  return h(
    "dl",
    { class: "kv" },
    rows.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v ?? h("span", { class: "muted" }, "–"))]),
  );
}

function table(headers, rows, cls) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: cls ?? null },
      h("thead", null, h("tr", null, headers.map((t) => h("th", null, t)))),
      h(
        "tbody",
        null,
        rows.map((cells) => h("tr", null, cells.map((c, k) => h("td", { "data-label": headers[k] }, c)))),
      ),
    ),
  );
}

function section(title, ...body) {
  return h("section", { class: "card" }, h("h2", null, title), body);
}

function errorText(e) {
  return e instanceof RPCError ? `${e.message}${e.reason ? ` (${e.reason})` : ""}` : String(e?.message ?? e);
}

function errorBox(e) {
  return h("p", { class: "error" }, errorText(e));
}

// A JSON value from the chain (decoded arguments, event data, results) as nested text; addresses link.
function valueView(v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "null");
  if (typeof v === "bigint" || typeof v === "number") return h("span", { class: "num" }, fmt(v));
  if (typeof v === "boolean") return h("span", { class: "num" }, String(v));
  if (typeof v === "string") {
    if (/^0x[0-9a-fA-F]{40}$/.test(v)) return linkAddress(v.toLowerCase(), true);
    if (/^0x[0-9a-fA-F]*$/.test(v)) return h("span", { class: "mono hash" }, v);
    return h("span", { class: "str" }, JSON.stringify(v));
  }
  if (Array.isArray(v)) {
    if (!v.length) return h("span", { class: "muted" }, "[]");
    return h("ol", { class: "json-list", start: 0 }, v.map((x) => h("li", null, valueView(x))));
  }
  const entries = Object.entries(v);
  if (!entries.length) return h("span", { class: "muted" }, "{}");
  return h("dl", { class: "json-obj" }, entries.map(([k, x]) => [h("dt", null, k), h("dd", null, valueView(x))]));
}

// -- bytes: what the SDK's encodings allow ----------------------------------------------------------------

function hexBytes(hex) {
  const s = String(hex).replace(/^0x/, "");
  const out = new Uint8Array(s.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = parseInt(s.slice(2 * k, 2 * k + 2), 16);
  return out;
}

const toHex = (bytes) => "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function printable(bytes) {
  if (!bytes.length) return null;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return /^[\P{C}]+$/u.test(text) ? text : null;
  } catch {
    return null;
  }
}

function littleEndian(bytes) {
  let n = 0n;
  for (let k = bytes.length - 1; k >= 0; k--) n = (n << 8n) | BigInt(bytes[k]);
  return n;
}

function bigEndian(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

// A minimal msgpack decoder (the SDK's arguments, returns and event data): the value, if the whole
// buffer is exactly one value, else undefined.
export function msgpack(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  const need = (n) => {
    if (i + n > bytes.length) throw new Error("short");
  };
  const uint = (n) => {
    need(n);
    const v = bigEndian(bytes.subarray(i, i + n));
    i += n;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const int = (n) => {
    need(n);
    let v = bigEndian(bytes.subarray(i, i + n));
    i += n;
    if (v >= 1n << BigInt(8 * n - 1)) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const raw = (n) => {
    need(n);
    const out = bytes.subarray(i, i + n);
    i += n;
    return out;
  };
  const str = (n) => new TextDecoder("utf-8", { fatal: true }).decode(raw(n));
  const arr = (n) => Array.from({ length: n }, () => one());
  const map = (n) => {
    const out = {};
    for (let k = 0; k < n; k++) {
      const key = one();
      out[typeof key === "string" ? key : toJSON(key)] = one();
    }
    return out;
  };
  const one = () => {
    need(1);
    const b = bytes[i++];
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f);
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return toHex(raw(uint(1)));
      case 0xc5:
        return toHex(raw(uint(2)));
      case 0xc6:
        return toHex(raw(uint(4)));
      case 0xca:
        need(4);
        i += 4;
        return view.getFloat32(i - 4);
      case 0xcb:
        need(8);
        i += 8;
        return view.getFloat64(i - 8);
      case 0xcc:
        return uint(1);
      case 0xcd:
        return uint(2);
      case 0xce:
        return uint(4);
      case 0xcf:
        return uint(8);
      case 0xd0:
        return int(1);
      case 0xd1:
        return int(2);
      case 0xd2:
        return int(4);
      case 0xd3:
        return int(8);
      case 0xd9:
        return str(uint(1));
      case 0xda:
        return str(uint(2));
      case 0xdb:
        return str(uint(4));
      case 0xdc:
        return arr(uint(2));
      case 0xdd:
        return arr(uint(4));
      case 0xde:
        return map(uint(2));
      case 0xdf:
        return map(uint(4));
      default:
        throw new Error("unsupported");
    }
  };
  try {
    const v = one();
    return i === bytes.length ? v : undefined;
  } catch {
    return undefined;
  }
}

// A storage key as the SDK builds them (storage::Key): text, or a text prefix and an address or a
// big-endian u64; else hex.
function storageKeyView(hex) {
  const bytes = hexBytes(hex);
  const text = printable(bytes);
  if (text !== null) return h("span", { class: "str", title: hex }, JSON.stringify(text));
  let p = 0;
  while (p < bytes.length && bytes[p] >= 0x20 && bytes[p] < 0x7f) p++;
  const rest = bytes.subarray(p);
  const prefix = p ? h("span", { class: "str" }, JSON.stringify(printable(bytes.subarray(0, p)))) : null;
  if (rest.length === 20) return h("span", { title: hex }, prefix, prefix ? " + " : "", linkAddress(toHex(rest)));
  if (rest.length === 8 && p) return h("span", { title: hex }, prefix, " + u64 ", fmt(bigEndian(rest)));
  return h("span", { class: "mono hash" }, hex);
}

// A stored value as the SDK writes them: set_u64 (8 bytes LE), set_u128 (16 bytes LE), set_address
// (20 bytes), text, msgpack; else hex.
function storageValueView(hex) {
  if (hex === null || hex === undefined) return h("span", { class: "muted" }, "(absent)");
  const bytes = hexBytes(hex);
  const typed = (type, v) => h("span", { title: hex }, valueView(v), " ", h("span", { class: "type" }, type));
  if (!bytes.length) return h("span", { class: "muted" }, "(empty)");
  if (bytes.length === 8) return typed("u64", littleEndian(bytes));
  if (bytes.length === 16) return typed("u128", littleEndian(bytes));
  if (bytes.length === 20) return typed("address", toHex(bytes));
  const text = printable(bytes);
  if (text !== null) return typed("text", text);
  const decoded = msgpack(bytes);
  if (decoded !== undefined) return typed("msgpack", decoded);
  return h("span", { class: "mono hash" }, hex);
}

// A trace's bytes view ({hex, msgpack?, text?, typed?}).
function bytesView(view) {
  if (!view) return h("span", { class: "muted" }, "–");
  if (view.typed) return h("span", null, valueView(view.typed.value), " ", h("span", { class: "type" }, view.typed.type));
  if (view.text !== undefined) return h("span", { class: "str", title: view.hex }, JSON.stringify(view.text));
  if (view.msgpack !== undefined) return h("span", { title: view.hex }, valueView(view.msgpack));
  return h("span", { class: "mono hash" }, view.hex === "0x" ? "(empty)" : view.hex);
}

// -- state: the head, live --------------------------------------------------------------------------------

const state = { info: null, head: null, live: "connecting", socket: null, snapshots: [] };
let routeToken = 0;
let homeRefreshing = false;

function setLive(mode, title) {
  state.live = mode;
  const badge = $("live");
  badge.textContent = mode;
  badge.className = `badge live-${mode}`;
  badge.title = title ?? "";
}

function isDevnet(info) {
  return info && (info.mining === "instant" || (typeof info.mining === "object" && info.mining && "block_time" in info.mining));
}

function applyInfo(info) {
  const first = !state.info;
  state.info = info;
  $("chain-id").textContent = String(info.chain_id);
  if (first) renderControls();
  headChanged({ height: info.head.height, hash: info.head.hash });
}

function headChanged(head) {
  const old = state.head;
  if (old && old.hash === head.hash) return;
  state.head = head;
  $("head").textContent = `head #${head.height}`;
  if (old && currentRoute()[0] === "") refreshHome();
}

async function checkHead() {
  try {
    applyInfo(await rpc("chain_info"));
  } catch (e) {
    if (state.live !== "live") setLive("offline", errorText(e));
  } finally {
    setTimeout(checkHead, state.live === "live" ? CHECK_MS : POLL_MS);
  }
}

function connect() {
  if (typeof WebSocket === "undefined") return setLive("polling", "no WebSocket in this browser");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let socket;
  try {
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
  } catch {
    setLive("polling");
    return;
  }
  state.socket = socket;
  const subscribeId = nextId++;
  socket.addEventListener("open", () => {
    socket.send(toJSON({ jsonrpc: "2.0", id: subscribeId, method: "subscribe", params: { kind: "blocks" } }));
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = parseJSON(String(event.data));
    } catch {
      return;
    }
    if (message.id === subscribeId) {
      if (message.error) {
        setLive("polling", `subscribe refused: ${message.error.message}`);
        socket.close();
      } else setLive("live", `subscription ${message.result}`);
      return;
    }
    if (message.method !== "subscription") return;
    const result = message.params?.result;
    if (result && result.dropped !== undefined) {
      setLive("polling", `the node dropped the subscription: ${result.dropped}`);
      socket.close();
      return;
    }
    if (result && result.height !== undefined) headChanged({ height: result.height, hash: result.hash });
  });
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (state.live === "live" || state.live === "connecting") setLive("polling", "the live connection closed");
    setTimeout(connect, RECONNECT_MS);
  });
}

// -- routes -------------------------------------------------------------------------------------------------

function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  return hash.split("/").map((p) => decodeURIComponent(p));
}

async function render() {
  const token = ++routeToken;
  const [page, arg] = currentRoute();
  const view = $("view");
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  let content;
  try {
    if (page === "") content = await homeView();
    else if (page === "block") content = await blockView(arg);
    else if (page === "tx") content = await txView(arg);
    else if (page === "address") content = await addressView(arg);
    else content = h("p", { class: "error" }, "No such page: ", location.hash);
  } catch (e) {
    content = errorBox(e);
  }
  if (token === routeToken) {
    view.replaceChildren(content);
    window.scrollTo(0, 0);
  }
}

// -- home: the latest blocks and transactions ---------------------------------------------------------

async function homeContent() {
  const top = state.head ? state.head.height : (await rpc("chain_info")).head.height;
  const heights = [];
  for (let n = top; n >= 0 && heights.length < RECENT_BLOCKS; n--) heights.push(n);
  const blocks = (await batch(heights.map((n) => ["get_block", { block: n }]))).filter((a) => a.result).map((a) => a.result);
  const hashes = blocks.flatMap((b) => b.transactions.map((t) => [t, b])).slice(0, RECENT_BLOCKS);
  const txs = await batch(hashes.map(([t]) => ["get_transaction", { hash: t }]));
  const blockRows = blocks.map((b) => [
    linkBlock(b.height),
    h("span", { class: "mono nowrap", title: b.hash }, short(b.hash)),
    h("span", { class: "nowrap" }, timeText(b.timestamp)),
    String(b.transactions.length),
    fmt(b.gas_used),
  ]);
  const txRows = txs.map((a, k) => {
    const [hash, block] = hashes[k];
    const t = a.result?.transaction;
    return [
      linkTx(hash),
      linkBlock(block.height),
      t ? t.kind : "?",
      t?.method ?? "",
      t ? linkAddress(t.from) : "",
      t ? linkAddress(t.to ?? a.result.address) : "",
      a.result ? statusBadge(a.result.status) : errorText(a.error),
    ];
  });
  return h(
    "div",
    { class: "home" },
    section(
      "Latest blocks",
      table(["Block", "Hash", "Time (UTC)", "Txs", "Gas used"], blockRows, "blocks"),
    ),
    section(
      "Latest transactions",
      txRows.length
        ? table(["Hash", "Block", "Kind", "Method", "From", "To", "Status"], txRows, "txs")
        : h("p", { class: "muted" }, "No transactions yet."),
    ),
  );
}

async function homeView() {
  return homeContent();
}

async function refreshHome() {
  if (homeRefreshing) {
    homeRefreshing = "again";
    return;
  }
  homeRefreshing = true;
  const token = routeToken;
  try {
    const content = await homeContent();
    if (token === routeToken && currentRoute()[0] === "") $("view").replaceChildren(content);
  } catch {
    // the next head check tries again
  } finally {
    const again = homeRefreshing === "again";
    homeRefreshing = false;
    if (again) refreshHome();
  }
}

// -- a block -----------------------------------------------------------------------------------------------

async function blockView(which) {
  const block = await rpc("get_block", { block: /^\d+$/.test(which) ? Number(which) : which });
  const txs = await batch(block.transactions.map((t) => ["get_transaction", { hash: t }]));
  const rows = txs.map((a, k) => {
    const t = a.result?.transaction;
    return [
      String(k),
      linkTx(block.transactions[k]),
      t ? t.kind : "?",
      t?.method ?? "",
      t ? linkAddress(t.from) : "",
      t ? linkAddress(t.to ?? a.result.address) : "",
      a.result ? fmt(a.result.gas_used) : "",
      a.result ? statusBadge(a.result.status) : errorText(a.error),
    ];
  });
  const nav = h(
    "p",
    { class: "nav" },
    block.height > 0 ? linkBlock(block.height - 1, "← previous") : null,
    " ",
    state.head && block.height < state.head.height ? linkBlock(block.height + 1, "next →") : null,
  );
  return h(
    "div",
    null,
    h("h1", null, `Block #${block.height}`),
    nav,
    section(
      "Header",
      kv([
        ["Height", String(block.height)],
        ["Hash", h("span", { class: "mono hash" }, block.hash)],
        ["Parent", block.height > 0 ? linkBlock(block.height - 1, block.parent_hash) : block.parent_hash],
        ["Time (UTC)", `${timeText(block.timestamp)} (${block.timestamp})`],
        ["Gas used", fmt(block.gas_used)],
        ["State root", h("span", { class: "mono hash" }, block.state_root)],
        ["Transactions root", h("span", { class: "mono hash" }, block.tx_root)],
        ["Receipts root", h("span", { class: "mono hash" }, block.receipts_root)],
      ]),
    ),
    block.overrides
      ? section(
          "Balance overrides",
          table(["Address", "Balance"], block.overrides.map((o) => [linkAddress(o.address, true), fmt(o.balance)])),
        )
      : null,
    section(
      `Transactions (${block.transactions.length})`,
      rows.length
        ? table(["#", "Hash", "Kind", "Method", "From", "To", "Gas used", "Status"], rows, "txs")
        : h("p", { class: "muted" }, "No transactions."),
    ),
  );
}

// -- a transaction -------------------------------------------------------------------------------------

async function txView(hash) {
  const [txAnswer, profiled] = await batch([
    ["get_transaction", { hash }],
    ["debug_profile_transaction", { hash }],
  ]);
  if (txAnswer.error) throw txAnswer.error;
  const tx = txAnswer.result;
  let trace = profiled.result ?? null;
  let traceError = profiled.error ?? null;
  if (traceError && traceError.reason === "no_wasm") {
    try {
      trace = await rpc("debug_trace_transaction", { hash });
      traceError = null;
    } catch (e) {
      traceError = e;
    }
  }
  const t = tx.transaction;
  const out = h("div", { class: "tx" }, h("h1", null, "Transaction"), h("p", { class: "mono hash" }, hash));
  if (tx.status === "dropped") {
    out.append(section("Dropped", h("p", { class: "error" }, String(tx.error))));
    return out;
  }
  out.append(
    section(
      "Summary",
      kv([
        ["Status", tx.status === "pending" ? statusBadge("pending") : statusBadge(tx.status)],
        tx.error ? ["Error", h("span", { class: "error-text" }, String(tx.error))] : null,
        tx.block_height !== undefined ? ["Block", h("span", null, linkBlock(tx.block_height), ` position ${tx.index}`)] : null,
        ["Kind", t.kind],
        ["From", linkAddress(t.from, true)],
        ["To", t.to ? linkAddress(t.to, true) : h("span", { class: "muted" }, "(a deploy)")],
        tx.address ? ["Contract created", linkAddress(tx.address, true)] : null,
        t.method !== null ? ["Method", h("span", { class: "mono" }, t.method)] : null,
        t.signature ? ["Signature", h("span", { class: "mono" }, t.signature)] : null,
        t.method !== null ? ["Arguments", valueView(t.args)] : null,
        ["Value", fmt(t.value)],
        ["Nonce", String(t.nonce)],
        t.code_size !== null ? ["Code size", `${fmt(t.code_size)} bytes`] : null,
      ]),
    ),
  );
  if (tx.status === "pending") return out;
  out.append(
    section(
      "Receipt",
      kv([
        ["Gas used", `${fmt(tx.gas_used)} of ${fmt(t.gas_limit)} at ${fmt(t.gas_price)}`],
        trace ? ["Fee", fmt(trace.fee)] : null,
        ["Return", tx.return === null && !tx.return_hex ? h("span", { class: "muted" }, "(none)") : valueView(tx.return)],
        tx.return_type ? ["Return type", h("span", { class: "mono" }, tx.return_type)] : null,
      ]),
    ),
    section("Events", eventsList(tx.events)),
  );
  if (!trace) {
    out.append(section("Trace", h("p", { class: "error" }, `No trace: ${errorText(traceError)}`)));
    return out;
  }
  if (trace.logs?.length) {
    out.append(
      section(
        "Debug log",
        h("ol", { class: "logs" }, trace.logs.map((l) => h("li", null, linkAddress(l.contract), " ", h("span", { class: "str" }, String(l.message))))),
      ),
    );
  }
  out.append(section("State changes", stateDiffView(trace.state_diff)));
  out.append(
    section(
      "Call trace",
      h("p", { class: "muted" }, `intrinsic gas ${fmt(trace.intrinsic_gas)} + execution = ${fmt(trace.gas_used)}`),
      trace.frame ? h("ul", { class: "trace-tree" }, frameView(trace.frame)) : h("p", { class: "muted" }, "No contract code ran (a native transfer or a deploy without init)."),
    ),
  );
  out.append(
    section(
      "Gas flame chart",
      trace.profile ? flameChart(trace) : h("p", { class: "muted" }, "No contract code ran: nothing to profile."),
    ),
  );
  return out;
}

function eventsList(events) {
  if (!events?.length) return h("p", { class: "muted" }, "No events.");
  return h(
    "ol",
    { class: "events" },
    events.map((e) =>
      h(
        "li",
        { class: "event" },
        h("div", null, h("span", { class: "event-name" }, String(e.name)), e.data_type ? h("span", { class: "type" }, String(e.data_type)) : null, " from ", linkAddress(e.contract)),
        e.tx_hash ? h("div", { class: "muted" }, "in ", linkTx(e.tx_hash), " block ", linkBlock(e.block_height)) : null,
        h("div", { class: "event-data" }, valueView(e.data)),
      ),
    ),
  );
}

function stateDiffView(diff) {
  if (!diff?.length) return h("p", { class: "muted" }, "No state changed.");
  const account = (v) => (v ? h("span", null, `balance ${fmt(v.balance)}, nonce ${v.nonce}`, v.code_hash ? `, code ${short(v.code_hash)}` : "") : h("span", { class: "muted" }, "(absent)"));
  const rows = diff.map((d) => {
    if (d.kind === "storage") {
      return ["storage", linkAddress(d.address), storageKeyView(d.storage_key.hex), d.old ? storageValueView(d.old.hex) : storageValueView(null), d.new ? storageValueView(d.new.hex) : storageValueView(null)];
    }
    if (d.kind === "account") return ["account", linkAddress(d.address), "", account(d.old), account(d.new)];
    return [d.kind, linkAddress(d.address), "", d.old ? `${fmt(d.old.size)} bytes` : "(none)", d.new ? `${fmt(d.new.size)} bytes` : "(none)"];
  });
  return table(["Kind", "Address", "Key", "Before", "After"], rows, "diff");
}

function frameView(frame) {
  const label = h(
    "summary",
    null,
    h("span", { class: "frame-name" }, linkAddress(frame.contract), "::", h("span", { class: "mono" }, String(frame.method))),
    " ",
    statusBadge(frame.status),
    frame.status_name ? h("span", { class: "muted" }, ` (caller saw ${frame.status_name})`) : null,
    h("span", { class: "gas" }, ` gas ${fmt(frame.gas_used)} (self ${fmt(frame.gas_self)})`),
    frame.value ? h("span", { class: "muted" }, ` value ${fmt(frame.value)}`) : null,
  );
  const details = h("details", { open: true }, label);
  const body = h("div", { class: "frame-body" });
  body.append(h("div", null, h("span", { class: "muted" }, "input "), bytesView(frame.input)));
  if (frame.return && frame.return.hex !== "0x") body.append(h("div", null, h("span", { class: "muted" }, "return "), bytesView(frame.return)));
  if (frame.error) body.append(h("div", { class: "error-text" }, String(frame.error)));
  const steps = h("ul", { class: "steps" });
  for (const s of frame.steps ?? []) {
    if (s.op === "call") {
      steps.append(frameView(s.frame));
      continue;
    }
    const li = h("li", { class: `step op-${s.op}` }, h("span", { class: "op" }, s.op), " ");
    if (s.op === "storage_read") append(li, [storageKeyView(s.key.hex), " → ", s.value ? storageValueView(s.value.hex) : storageValueView(null)]);
    else if (s.op === "storage_has") append(li, [storageKeyView(s.key.hex), ` ${s.present ? "present" : "absent"}`]);
    else if (s.op === "storage_write") append(li, [storageKeyView(s.key.hex), ": ", s.old ? storageValueView(s.old.hex) : storageValueView(null), " → ", storageValueView(s.new.hex)]);
    else if (s.op === "storage_remove") append(li, [storageKeyView(s.key.hex), " (was ", s.old ? storageValueView(s.old.hex) : storageValueView(null), ")"]);
    else if (s.op === "event") append(li, [h("span", { class: "event-name" }, String(s.name)), " ", bytesView(s.data)]);
    else if (s.op === "log") append(li, [h("span", { class: "str" }, String(s.message))]);
    else if (s.op === "transfer") append(li, [fmt(s.amount), " to ", linkAddress(s.to), s.ok ? "" : " (refused: balance too low)"]);
    else append(li, [h("span", { class: "mono" }, toJSON(s))]);
    steps.append(li);
  }
  body.append(steps);
  details.append(body);
  return h("li", { class: "frame" }, details);
}

// The profile as an icicle chart: each frame's width is its gas, split into the wasm call stacks that
// spent it (the profile's stacks) and the nested frames (at the stack that called them).
function flameTree(trace) {
  const profile = trace.profile;
  const byPath = new Map();
  let root = null;
  const node = (label, kind) => ({ label, kind, self: 0, children: new Map() });
  for (const f of profile.frames) {
    const names = new Map(f.functions.map((fn) => [fn.index, fn.name ?? `func[${fn.index}]`]));
    const frame = node(`${devName(f.contract) ?? short(f.contract)}::${f.method}`, "frame");
    const descend = (start, stack, fnNames) => {
      let cur = start;
      for (const index of stack) {
        const key = `f${index}`;
        if (!cur.children.has(key)) cur.children.set(key, node(fnNames.get(index) ?? `func[${index}]`, "fn"));
        cur = cur.children.get(key);
      }
      return cur;
    };
    for (const s of f.stacks) descend(frame, s.stack, names).self += Number(s.gas);
    frame.names = names;
    byPath.set(f.path.join("/"), frame);
    if (!f.path.length) root = frame;
    else {
      const parent = byPath.get(f.path.slice(0, -1).join("/"));
      if (parent) descend(parent, f.caller_stack ?? [], parent.names).children.set(`c${f.path.join("/")}`, frame);
    }
  }
  const total = (n) => {
    n.total = n.self + [...n.children.values()].reduce((sum, c) => sum + total(c), 0);
    return n.total;
  };
  if (root) total(root);
  return root;
}

function flameChart(trace) {
  const root = flameTree(trace);
  if (!root || !root.total) return h("p", { class: "muted" }, "No gas was profiled.");
  const grand = root.total;
  const hue = (label) => {
    let x = 0;
    for (const ch of label) x = (x * 31 + ch.charCodeAt(0)) % 360;
    return x;
  };
  const block = (n) => {
    const share = n.total / grand;
    const el = h("div", { class: `flame-node flame-${n.kind}` });
    const bar = h(
      "div",
      { class: "flame-bar", title: `${n.label}: ${fmt(n.total)} gas (${(100 * share).toFixed(1)}%), self ${fmt(n.self)}` },
      h("span", null, n.label, " ", fmt(n.total)),
    );
    bar.style.backgroundColor = n.kind === "frame" ? "hsl(215 70% 62%)" : `hsl(${20 + (hue(n.label) % 40)} 85% ${62 + (hue(n.label) % 14)}%)`;
    el.append(bar);
    const kids = [...n.children.values()].filter((c) => c.total > 0).sort((a, b) => b.total - a.total);
    if (kids.length) {
      const row = h("div", { class: "flame-children" });
      for (const c of kids) {
        const child = block(c);
        child.style.width = `${(100 * c.total) / n.total}%`;
        row.append(child);
      }
      el.append(row);
    }
    return el;
  };
  const chart = block(root);
  chart.style.width = "100%";
  return h(
    "div",
    null,
    h("p", { class: "muted" }, `${fmt(grand)} gas of the top frame; width is gas; hover a bar for its figures. Blue: contract frames, warm: wasm functions (their stacks from the profile).`),
    h("div", { class: "flame", role: "img", "aria-label": "gas flame chart" }, chart),
  );
}

// -- an account or contract ----------------------------------------------------------------------------

async function addressView(address) {
  address = String(address).toLowerCase();
  if (!/^0x[0-9a-f]{40}$/.test(address)) throw new Error(`not an address: ${address}`);
  const [acct, code, iface] = await batch([
    ["get_account", { address }],
    ["get_code", { address }],
    ["get_interface", { address }],
  ]);
  if (acct.error) throw acct.error;
  const a = acct.result;
  const isContract = a.code_hash !== null;
  const name = devName(address);
  const out = h(
    "div",
    { class: "address" },
    h("h1", null, isContract ? "Contract" : "Account", name ? h("span", { class: "tag" }, name) : null),
    h("p", { class: "mono hash" }, address),
  );
  out.append(
    section(
      "Overview",
      kv([
        ["Balance", h("span", { class: "num", id: "account-balance" }, fmt(a.balance))],
        ["Nonce", String(a.nonce)],
        ["Code hash", isContract ? h("span", { class: "mono hash" }, a.code_hash) : h("span", { class: "muted" }, "(not a contract)")],
        isContract && code.result ? ["Code size", `${fmt(code.result.code_size)} bytes`] : null,
        isContract && code.error ? ["Code", errorText(code.error)] : null,
      ]),
    ),
  );
  const head = state.head ? state.head.height : (await rpc("chain_info")).head.height;
  if (isContract) {
    out.append(section("Interface", interfaceView(iface)));
    const events = await rpc("get_events", { contract: address, from_block: Math.max(0, head - 9999), limit: 1000 }).catch((e) => e);
    out.append(
      section(
        "Events",
        events instanceof Error
          ? errorBox(events)
          : h("div", null, h("p", { class: "muted" }, `The last ${Math.min(50, events.events.length)} of ${events.events.length} in blocks ${Math.max(0, head - 9999)} to ${head}.`), eventsList(events.events.slice(-50).reverse())),
      ),
    );
  }
  const txs = await recentTransactions(address, head);
  out.append(
    section(
      "Transactions",
      h("p", { class: "muted" }, `Found in the last ${Math.min(SCAN_BLOCKS, head + 1)} blocks (the node has no index of an account's transactions).`),
      txs.length
        ? table(
            ["Hash", "Block", "Kind", "Method", "From", "To", "Status"],
            txs.map((t) => [linkTx(t.tx_hash), linkBlock(t.block_height), t.transaction.kind, t.transaction.method ?? "", linkAddress(t.transaction.from), linkAddress(t.transaction.to ?? t.address), statusBadge(t.status)]),
            "txs",
          )
        : h("p", { class: "muted" }, "None."),
    ),
  );
  if (isContract) out.append(await storageBrowser(address));
  return out;
}

function interfaceView(answer) {
  if (answer.error) return errorBox(answer.error);
  const i = answer.result.interface;
  if (!i) return h("p", { class: "muted" }, "Untyped: the module carries no wasmchain:wit interface.");
  return h(
    "div",
    null,
    h("p", null, h("span", { class: "mono" }, `${i.package} / ${i.world}`), i.docs ? h("span", { class: "muted" }, ` — ${i.docs}`) : null),
    h("h3", null, "Methods"),
    h(
      "ul",
      { class: "methods" },
      i.methods.map((m) => h("li", null, h("span", { class: "mono" }, String(m.signature)), m.readonly ? h("span", { class: "tag" }, "view") : null, m.docs ? h("div", { class: "muted doc" }, String(m.docs)) : null)),
    ),
    i.events.length ? h("h3", null, "Events") : null,
    h(
      "ul",
      { class: "methods" },
      i.events.map((e) => h("li", null, h("span", { class: "event-name" }, String(e.event)), " ", h("span", { class: "mono" }, `{ ${e.fields.map((f) => `${f.name}: ${f.type.wit}`).join(", ")} }`), e.docs ? h("div", { class: "muted doc" }, String(e.docs)) : null)),
    ),
  );
}

async function recentTransactions(address, head) {
  const heights = [];
  for (let n = head; n >= 0 && heights.length < SCAN_BLOCKS; n--) heights.push(n);
  const blocks = (await batch(heights.map((n) => ["get_block", { block: n }]))).filter((a) => a.result).map((a) => a.result);
  const hashes = blocks.flatMap((b) => b.transactions).slice(0, 1000);
  const answers = await batch(hashes.map((t) => ["get_transaction", { hash: t }]));
  return answers
    .filter((a) => a.result && a.result.transaction)
    .map((a) => a.result)
    .filter((t) => t.transaction.from === address || t.transaction.to === address || t.address === address);
}

// The contract's storage from get_storage, a page of STORAGE_PAGE keys at a time in key order ("More"
// fetches the next); any key can also be read with its proof by its text or hex.
async function storageBrowser(address) {
  const rows = [];
  const body = h("div", { class: "storage-list" });
  const more = h("button", { type: "button", id: "storage-more", hidden: true }, "More");
  let after = null;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await rpc("get_storage", { address, after, limit: STORAGE_PAGE });
      for (const e of page.entries) rows.push([storageKeyView(e.key), storageValueView(e.value), h("span", { class: "mono hash" }, e.value)]);
      after = page.next;
      body.replaceChildren(rows.length ? table(["Key", "Value", "Raw"], rows, "storage") : h("p", { class: "muted" }, "No storage."));
      more.hidden = after === null;
    } catch (e) {
      body.replaceChildren(errorBox(e));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  await load();
  const result = h("div", { class: "lookup-result" });
  const input = h("input", { id: "storage-key", type: "text", placeholder: "a key: its text (supply) or 0x hex", autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        result.replaceChildren(h("span", { class: "muted" }, "…"));
        try {
          const p = await rpc("get_proof", { address, key });
          const keyHex = "0x" + String(p.state_key).slice(2 + 2 + 40);
          result.replaceChildren(kv([["Key", storageKeyView(keyHex)], ["Value", storageValueView(p.value)], ["Raw", h("span", { class: "mono hash" }, p.value ?? "(absent)")], ["Proof", p.verified ? `verified against the state root of block #${p.block_height}` : "not verified"]]));
        } catch (e) {
          result.replaceChildren(errorBox(e));
        }
      },
    },
    input,
    h("button", { type: "submit" }, "Read"),
  );
  return section(
    "Storage",
    h("p", { class: "muted" }, "Every key at the head, in key order. Values are decoded as the SDK stores them (u64, u128, address, text, msgpack) by their size, hex otherwise."),
    body,
    more,
    h("h3", null, "Read any key"),
    form,
    result,
  );
}

// -- search ---------------------------------------------------------------------------------------------

function notice(text, kind = "info") {
  const el = $("notice");
  el.hidden = !text;
  el.className = `notice-${kind}`;
  el.textContent = text ?? "";
}

async function search(query) {
  const q = query.trim();
  notice(null);
  if (!q) return;
  let target = null;
  const dev = /^dev(\d+)$/i.exec(q);
  if (/^\d+$/.test(q) || q === "latest") target = `#/block/${q}`;
  else if (dev) {
    const address = DEV_ADDRESSES[Number(dev[1])];
    if (address) target = `#/address/${address}`;
    else return notice(`no dev key named ${q}: the dev keys are dev0 to dev${DEV_ADDRESSES.length - 1}`, "error");
  } else if (/^0x[0-9a-fA-F]{40}$/.test(q)) target = `#/address/${q.toLowerCase()}`;
  else if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
    const hash = q.toLowerCase();
    const [tx, block] = await batch([
      ["get_transaction", { hash }],
      ["get_block", { block: hash }],
    ]);
    if (tx.result) target = `#/tx/${hash}`;
    else if (block.result) target = `#/block/${hash}`;
    else return notice(`no transaction or block with hash ${hash}`, "error");
  } else {
    return notice(`“${q}” is not a height, a hash (0x and 64 hex digits), an address (0x and 40) or a dev key name (dev0 to dev9)`, "error");
  }
  if (location.hash === target) render();
  else location.hash = target;
}

// -- devnet controls ---------------------------------------------------------------------------------

function renderControls() {
  const box = $("controls");
  const info = state.info;
  box.replaceChildren();
  if (!isDevnet(info)) {
    const mining = typeof info.mining === "object" && info.mining ? info.mining : {};
    const why = mining.follows ? `this node follows ${mining.follows}` : mining.cometbft ? "this node is a validator: its blocks come from CometBFT" : "this node is not a devnet";
    box.append(h("p", { class: "muted" }, `Devnet controls are off: ${why}.`));
    box.hidden = false;
    return;
  }
  const output = h("output", { id: "ctl-result", class: "ctl-result" });
  const run = async (what, method, params, describe) => {
    output.className = "ctl-result";
    output.textContent = `${what}…`;
    try {
      const result = await rpc(method, params);
      output.textContent = describe(result);
      await checkHeadOnce();
      if (currentRoute()[0] !== "") render();
    } catch (e) {
      output.className = "ctl-result error";
      output.textContent = `${what} refused: ${errorText(e)}`;
    }
  };
  const field = (id, placeholder, size, value) => h("input", { id, placeholder, size, value, autocomplete: "off", spellcheck: "false", "aria-label": placeholder });
  const blocks = field("ctl-blocks", "blocks", 4, "1");
  const snapshotId = field("ctl-revert-id", "snapshot id", 6);
  const seconds = field("ctl-seconds", "seconds", 7, "3600");
  const balAddress = field("ctl-balance-address", "address or dev key", 14);
  const balAmount = field("ctl-balance-amount", "balance", 14);
  const uint = (text, what) => {
    if (!/^\d+$/.test(text.trim())) throw new Error(`${what} must be a whole number, found “${text}”`);
    const n = BigInt(text.trim());
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };
  const guard = (fn) => async (event) => {
    event.preventDefault();
    try {
      await fn();
    } catch (e) {
      output.className = "ctl-result error";
      output.textContent = errorText(e);
    }
  };
  box.append(
    h("span", { class: "ctl-title" }, "Devnet"),
    h(
      "form",
      { class: "inline", onsubmit: guard(() => run("mine", "devnet_mine", { blocks: uint(blocks.value, "blocks") }, (r) => `mined ${r.blocks.length} block(s); head #${r.head}`)) },
      h("button", { id: "ctl-mine", type: "submit" }, "Mine"),
      blocks,
    ),
    h(
      "form",
      {
        class: "inline",
        onsubmit: guard(() =>
          run("snapshot", "devnet_snapshot", {}, (r) => {
            state.snapshots.push(r);
            snapshotId.value = String(r.id);
            return `snapshot ${r.id} at height ${r.height}`;
          }),
        ),
      },
      h("button", { id: "ctl-snapshot", type: "submit" }, "Snapshot"),
    ),
    h(
      "form",
      { class: "inline", onsubmit: guard(() => run("revert", "devnet_revert", { id: uint(snapshotId.value, "the snapshot id") }, (r) => `reverted to snapshot ${snapshotId.value}; head #${r.head}`)) },
      h("button", { id: "ctl-revert", type: "submit" }, "Revert to"),
      snapshotId,
    ),
    h(
      "form",
      { class: "inline", onsubmit: guard(() => run("increase time", "devnet_increase_time", { seconds: uint(seconds.value, "seconds") }, (r) => `later blocks are ${fmt(r.offset)} s ahead in all`)) },
      h("button", { id: "ctl-time", type: "submit" }, "Move time +"),
      seconds,
      h("span", { class: "muted" }, "s"),
    ),
    h(
      "form",
      {
        class: "inline",
        onsubmit: guard(() => {
          const who = balAddress.value.trim();
          const dev = /^dev(\d+)$/i.exec(who);
          const address = dev ? DEV_ADDRESSES[Number(dev[1])] : who.toLowerCase();
          if (!address || !/^0x[0-9a-f]{40}$/.test(address)) throw new Error(`not an address or a dev key name: “${who}”`);
          return run("set balance", "devnet_set_balance", { address, balance: BigInt(uint(balAmount.value, "the balance")) }, (r) => `balance of ${devName(r.address) ?? r.address} set to ${fmt(r.balance)} in block #${r.block_height}`);
        }),
      },
      h("button", { id: "ctl-balance", type: "submit" }, "Set balance"),
      balAddress,
      balAmount,
    ),
    output,
  );
  box.hidden = false;
}

async function checkHeadOnce() {
  try {
    applyInfo(await rpc("chain_info"));
  } catch (e) {
    notice(errorText(e), "error");
  }
}

// -- start ----------------------------------------------------------------------------------------------

async function start() {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("search-input").value).catch((e) => notice(errorText(e), "error"));
  });
  window.addEventListener("hashchange", () => {
    notice(null);
    render();
  });
  try {
    applyInfo(await rpc("chain_info"));
  } catch (e) {
    setLive("offline", errorText(e));
    $("view").replaceChildren(errorBox(e));
  }
  connect();
  setTimeout(checkHead, POLL_MS);
  await render();
}

start();
