// The page of `muser serve`: search, lists, player, map and status. Plain ES2020, no framework.
// Everything the server sends (titles, tags, paths, error messages) is inserted with textContent
// or DOM APIs, never as HTML: file tags are untrusted.
"use strict";

const $ = (id) => document.getElementById(id);
const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const SEARCH_DEBOUNCE_MS = 300;
const SEARCH_LIMIT = 50;

// ---- helpers ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** fetch a JSON route; non-2xx answers throw ApiError carrying the server's {"error"} message. */
async function api(path, { method = "GET", headers = {} } = {}) {
  let res;
  try {
    res = await fetch(path, { method, headers: { Accept: "application/json", ...headers } });
  } catch (err) {
    throw new ApiError(`cannot reach the server (${err.message})`, 0);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg = body && typeof body.error === "string" ? body.error : `${res.status} ${res.statusText}`;
    throw new ApiError(msg.trim() || `HTTP ${res.status}`, res.status);
  }
  return { status: res.status, body };
}

/** An element with optional class, text and attributes; children are nodes or strings (as text). */
function el(tag, { cls, text, attrs, data } = {}, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, String(v));
  for (const [k, v] of Object.entries(data ?? {})) node.dataset[k] = String(v);
  for (const child of children) node.append(child);
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function fileName(path) {
  const parts = String(path ?? "").split(/[\\/]/);
  return parts[parts.length - 1] || String(path ?? "");
}

/** "Artist – Title" for headings and the player; falls back to the file name. */
function trackName(t) {
  const title = t.title || fileName(t.path) || `track ${t.id}`;
  return t.artist ? `${t.artist} – ${title}` : title;
}

// ---- message line -------------------------------------------------------------------------------

function showError(message) {
  $("message-text").textContent = String(message);
  $("message").hidden = false;
}

function clearError() {
  $("message").hidden = true;
  $("message-text").textContent = "";
}

// ---- state --------------------------------------------------------------------------------------

const state = {
  list: [],            // the tracks shown in #results
  listTitle: "",
  listSeq: 0,          // bumps with every list request: a late answer never replaces a newer list
  pathFrom: null,      // the start track of "path to…"
  playing: null,       // {id, name}
};

// ---- the list -----------------------------------------------------------------------------------

function showList(tracks, title) {
  state.list = Array.isArray(tracks) ? tracks : [];
  state.listTitle = title;
  $("list-title").textContent = title;
  $("list-count").textContent = state.list.length ? `${state.list.length} track${state.list.length === 1 ? "" : "s"}` : "";
  const body = $("results");
  body.replaceChildren(...state.list.map(trackRow));
  $("empty").hidden = state.list.length > 0 || !title;
  $("save-m3u").disabled = state.list.length === 0;
  markRows();
  mapView.setHighlight(state.list.map((t) => t.id));
}

function trackRow(t, index) {
  const tr = el("tr", { data: { id: t.id, index } });
  tr.append(
    el("td", { cls: "c-play" }, playCell(t)),
    el("td", { cls: "c-artist", text: t.artist ?? "" }),
    el("td", { cls: "c-title", text: t.title || fileName(t.path), attrs: { title: String(t.path ?? "") } },
      ...(t.playable === false ? [el("span", { cls: "note", text: t.note || "cannot be played here" })] : [])),
    el("td", { cls: "c-dur num", text: formatDuration(t.duration) }),
    el("td", { cls: "c-genre" }, genreCell(t)),
    el("td", { cls: "c-tags" }, ...tagChips(t)),
    el("td", { cls: "c-actions" },
      el("button", { cls: "act", text: "similar", attrs: { type: "button" }, data: { action: "similar" } }),
      el("button", { cls: "act", text: "radio", attrs: { type: "button" }, data: { action: "radio" } }),
      el("button", { cls: "act", text: "path to…", attrs: { type: "button" }, data: { action: "path" } })),
  );
  return tr;
}

function playCell(t) {
  if (t.playable === false) {
    // the note itself shows under the title, where it has room
    return el("span", { cls: "no-play", text: "⊘", attrs: { title: t.note || "cannot be played here" } });
  }
  return el("button", {
    cls: "play", text: "▶",
    attrs: { type: "button", "aria-label": `Play ${trackName(t)}`, title: "Play" },
    data: { action: "play" },
  });
}

function genreCell(t) {
  const span = el("span", { cls: "genre", text: t.predicted_genre || "" });
  if (t.genre && t.genre !== t.predicted_genre) span.title = `file tag: ${t.genre}`;
  return span;
}

function tagChips(t) {
  const tags = Array.isArray(t.predicted_tags) ? t.predicted_tags.slice(0, 3) : [];
  return tags.map((tag) => el("span", {
    cls: "chip", text: tag.label,
    attrs: { title: typeof tag.score === "number" ? `score ${tag.score.toFixed(2)}` : "" },
  }));
}

/** The playing row and the path start get their classes; called after each list or player change. */
function markRows() {
  for (const tr of $("results").rows) {
    const id = Number(tr.dataset.id);
    const playing = state.playing?.id === id;
    tr.classList.toggle("playing", playing);
    tr.classList.toggle("path-start", state.pathFrom?.id === id);
    const btn = tr.querySelector("button.play");
    if (btn) btn.textContent = playing && !$("player").paused ? "❚❚" : "▶";
  }
}

async function loadList(url, title) {
  const seq = ++state.listSeq;
  try {
    const { body } = await api(url);
    if (seq !== state.listSeq) return;
    clearError();
    showList(body?.hits ?? [], title);
    $("explain").textContent = "";
  } catch (err) {
    if (seq === state.listSeq) showError(err.message);
  }
}

function onRowAction(event) {
  const btn = event.target.closest("button[data-action]");
  if (!btn) return;
  const tr = btn.closest("tr");
  const track = state.list[Number(tr.dataset.index)];
  if (!track) return;
  const action = btn.dataset.action;
  if (action === "play") playTrack(track.id, trackName(track));
  else if (action === "similar") loadList(`/api/similar/${track.id}?limit=30`, `Similar to ${trackName(track)}`);
  else if (action === "radio") loadList(`/api/radio/${track.id}?count=30&per_artist=3`, `Radio from ${trackName(track)}`);
  else if (action === "path") pathTo(track);
}

function pathTo(track) {
  const from = state.pathFrom;
  if (!from) {
    state.pathFrom = track;
  } else {
    state.pathFrom = null;
    if (from.id !== track.id) {
      loadList(`/api/path/${from.id}/${track.id}?count=12`, `Path from ${trackName(from)} to ${trackName(track)}`);
    }
  }
  showPathHint();
  markRows();
}

function showPathHint() {
  const from = state.pathFrom;
  $("path-hint").hidden = !from;
  $("path-hint-text").textContent = from
    ? `Path from ${trackName(from)}: pick the end with “path to…” (search for it if needed)`
    : "";
}

function saveM3u() {
  if (!state.list.length) return;
  const params = new URLSearchParams({
    ids: state.list.map((t) => t.id).join(","),
    name: (state.listTitle || "muser").slice(0, 100),
  });
  window.location.href = `/api/m3u?${params}`;
}

// ---- search -------------------------------------------------------------------------------------

function searchParams() {
  const q = $("q").value.trim();
  const filters = {
    predicted_genre: $("f-genre").value,
    energy: $("f-energy").value,
    artist: $("f-artist").value.trim(),
    year: $("f-year").value.trim(),
  };
  const params = new URLSearchParams({ q, limit: String(SEARCH_LIMIT) });
  let hasFilter = false;
  for (const [k, v] of Object.entries(filters)) {
    if (v) {
      params.set(k, v);
      hasFilter = true;
    }
  }
  return { q, params, hasFilter };
}

async function runSearch() {
  clearTimeout(runSearch.timer);
  const { q, params, hasFilter } = searchParams();
  const seq = ++state.listSeq;
  if (!q && !hasFilter) {
    $("explain").textContent = "";
    clearError();
    showList([], "");
    $("list-title").textContent = "Type a description to search your library";
    return;
  }
  try {
    const { body } = await api(`/api/search?${params}`);
    if (seq !== state.listSeq) return;
    clearError();
    $("explain").textContent = body?.query?.explain ?? "";
    showList(body?.hits ?? [], q ? `Results for “${q}”` : "Tracks matching the filters");
  } catch (err) {
    if (seq === state.listSeq) showError(err.message);
  }
}

function searchSoon() {
  clearTimeout(runSearch.timer);
  runSearch.timer = setTimeout(runSearch, SEARCH_DEBOUNCE_MS);
}

async function loadGenres() {
  try {
    const { body } = await api("/api/genres");
    const select = $("f-genre");
    const keep = select.value;
    const options = (body?.genres ?? []).map((g) =>
      el("option", { text: `${g.name} (${g.count})`, attrs: { value: g.name } }));
    select.replaceChildren(el("option", { text: "any", attrs: { value: "" } }), ...options);
    select.value = keep;
    if (select.value !== keep) select.value = "";
  } catch (err) {
    showError(err.message);
  }
}

// ---- player -------------------------------------------------------------------------------------

function playTrack(id, name) {
  const player = $("player");
  const src = `/api/audio/${id}`;
  if (state.playing?.id === id && player.getAttribute("src") === src) {
    if (player.paused) player.play().catch(onPlayRejected);
    else player.pause();
    return;
  }
  state.playing = { id, name };
  player.src = src;
  $("now-playing").textContent = name;
  document.title = `${name} · muser`;
  player.play().catch(onPlayRejected);
  markRows();
  mapView.requestDraw();
}

function onPlayRejected(err) {
  // AbortError: a newer src replaced this one before it started; not a failure
  if (err?.name !== "AbortError") showError(`cannot play: ${err?.message ?? err}`);
}

async function onPlayerError() {
  const player = $("player");
  const src = player.getAttribute("src");
  if (!src) return;
  const name = state.playing?.name ?? "this track";
  let detail = player.error?.message || "the browser could not play the audio";
  try {  // an <audio> element cannot read the server's reason (a 404, a failed transcode): ask once more
    const response = await fetch(src, { headers: { Range: "bytes=0-0" } });
    if (!response.ok && (response.headers.get("content-type") || "").includes("json")) {
      detail = (await response.json()).error || detail;
    }
  } catch (_) { /* keep the browser's own reason */ }
  if (player.getAttribute("src") === src) showError(`cannot play ${name}: ${detail}`);
}

/** At the end of a track the next playable one of the list plays, so a radio list runs on. */
function playNext() {
  const i = state.list.findIndex((t) => t.id === state.playing?.id);
  if (i < 0) return;
  const next = state.list.slice(i + 1).find((t) => t.playable !== false);
  if (next) playTrack(next.id, trackName(next));
}

// ---- tabs ---------------------------------------------------------------------------------------

const TABS = ["search", "map", "status"];

function showTab(name) {
  if (!TABS.includes(name)) name = "search";
  for (const tab of TABS) {
    $(`panel-${tab}`).hidden = tab !== name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
  }
  history.replaceState(null, "", name === "search" ? window.location.pathname + window.location.search : `#${name}`);
  if (name === "map") mapView.show();
  if (name === "status") loadStatus();
  if (name === "search") $("q").focus();
}

// ---- status and re-index ------------------------------------------------------------------------

const reindex = { polling: false };

function statusRow(term, ...values) {
  return [el("dt", { text: term }), el("dd", {}, ...values)];
}

function renderStatus(s) {
  const hash = String(s.model_hash ?? "");
  const folders = Array.isArray(s.folders) ? s.folders : [];
  const hours = typeof s.hours === "number" ? s.hours.toFixed(s.hours < 10 ? 2 : 1) : "";
  $("status").replaceChildren(
    ...statusRow("Library", String(s.library ?? "")),
    ...statusRow("Location", el("code", { text: s.location ?? "" })),
    ...statusRow("Tracks", Number(s.tracks ?? 0).toLocaleString()),
    ...statusRow("Hours", hours),
    ...statusRow("Failed files", String(s.failed ?? 0)),
    ...statusRow("Silent files", String(s.silent ?? 0)),
    ...statusRow("Model", el("code", { text: hash.slice(0, 12), attrs: { title: hash } })),
    ...statusRow("Folders", folders.length
      ? el("ul", { cls: "folders" }, ...folders.map((f) => el("li", {}, el("code", { text: f }))))
      : "none yet"),
  );
  $("lib-info").textContent = `${s.library ?? ""} · ${Number(s.tracks ?? 0).toLocaleString()} tracks`;
}

function renderReindex(r) {
  const progress = $("reindex-progress");
  const st = r?.state ?? "idle";
  const running = st === "running";
  $("reindex").disabled = running;
  $("reindex").textContent = running ? "Re-indexing…" : "Re-index";
  progress.hidden = st === "idle";
  const done = Number(r?.done ?? 0);
  const total = r?.total;
  if (typeof total === "number" && total > 0) {
    progress.max = total;
    progress.value = Math.min(done, total);
  } else if (running) {
    progress.removeAttribute("value"); // indeterminate until the scan knows its total
  } else {
    progress.max = 1;
    progress.value = 1;
  }
  $("reindex-count").textContent = st === "idle" ? "" : typeof total === "number" ? `${done} / ${total}` : `${done}`;
  const msg = $("reindex-message");
  msg.textContent = r?.message || (running ? "scanning…" : "");
  msg.className = st === "failed" || st === "interrupted" ? "bad" : "muted";
}

async function loadStatus() {
  try {
    const { body } = await api("/api/status");
    renderStatus(body);
    renderReindex(body.reindex);
    if (body.reindex?.state === "running") pollReindex();
    return body;
  } catch (err) {
    showError(err.message);
    return null;
  }
}

async function startReindex() {
  $("reindex").disabled = true;
  try {
    const { body } = await api("/api/reindex", { method: "POST", headers: { "X-CSRF-Token": CSRF_TOKEN } });
    clearError();
    renderReindex(body?.reindex);
    pollReindex();
  } catch (err) {
    showError(err.message);
    if (err.status === 409) pollReindex(); // one is running already: follow it
    else $("reindex").disabled = false;
  }
}

async function pollReindex() {
  if (reindex.polling) return;
  reindex.polling = true;
  try {
    for (;;) {
      await sleep(1000);
      const { body } = await api("/api/status");
      renderStatus(body);
      renderReindex(body.reindex);
      if (body.reindex?.state !== "running") break;
    }
    loadGenres();
    mapView.stale();
  } catch (err) {
    showError(err.message);
    $("reindex").disabled = false;
  } finally {
    reindex.polling = false;
  }
}

// ---- map ----------------------------------------------------------------------------------------

// Tableau-style categorical palette: distinct in both themes; genres past 16 reuse colours
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#17becf", "#bcbd22", "#7f3c8d", "#a0cbe8", "#d37295", "#11a579", "#f1ce63"];
const UNKNOWN_COLOUR = "#8a8f98";
const NO_CLEAR_GENRE = "no clear genre"; // the model's own "no call": grey, like an unknown genre

function genreColour(genres, k) {
  return genres[k] === NO_CLEAR_GENRE ? UNKNOWN_COLOUR : PALETTE[k % PALETTE.length];
}
// calm (blue) -> energetic (red)
const ENERGY_STOPS = [[44, 123, 182], [171, 217, 233], [255, 255, 191], [253, 174, 97], [215, 25, 28]];
const ENERGY_BINS = 24;

function energyColour(v) {
  const t = Math.min(Math.max(v, 0), 1) * (ENERGY_STOPS.length - 1);
  const i = Math.min(Math.floor(t), ENERGY_STOPS.length - 2);
  const f = t - i;
  const [a, b] = [ENERGY_STOPS[i], ENERGY_STOPS[i + 1]];
  const c = a.map((x, k) => Math.round(x + (b[k] - x) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

const colourProbe = document.createElement("canvas").getContext("2d");

/** A CSS colour as one RGBA pixel of a Uint32Array view (little-endian: ABGR). */
function packColour(css) {
  colourProbe.fillStyle = css;
  const hex = colourProbe.fillStyle; // normalised to #rrggbb or rgba(...)
  let r = 128, g = 128, b = 128;
  if (hex.startsWith("#")) {
    [r, g, b] = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  } else {
    [r, g, b] = hex.match(/\d+/g).map(Number);
  }
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/** Points grouped by colour (counting sort), so each colour is one fillStyle and one path. */
function colourBuckets(keys, nBuckets) {
  const starts = new Uint32Array(nBuckets + 1);
  for (let i = 0; i < keys.length; i++) starts[keys[i] + 1]++;
  for (let b = 0; b < nBuckets; b++) starts[b + 1] += starts[b];
  const fill = starts.slice(0, nBuckets);
  const order = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) order[fill[keys[i]]++] = i;
  return { starts, order };
}

/** Uniform grid over the points' bounds: hover and click look in a few cells, not all points. */
class GridIndex {
  constructor(x, y) {
    const n = x.length;
    this.x = x;
    this.y = y;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < n; i++) {
      x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]);
      y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
    }
    if (!n) [x0, x1, y0, y1] = [0, 1, 0, 1];
    this.bounds = { x0, x1, y0, y1 };
    this.g = Math.max(1, Math.ceil(Math.sqrt(n / 3))); // ~3 points per cell
    this.cw = Math.max(x1 - x0, 1e-9) / this.g;
    this.ch = Math.max(y1 - y0, 1e-9) / this.g;
    const cells = new Uint32Array(n);
    for (let i = 0; i < n; i++) cells[i] = this.cell(this.col(x[i]), this.row(y[i]));
    const { starts, order } = colourBuckets(cells, this.g * this.g);
    this.starts = starts; // (g*g + 1,)
    this.items = order;   // (n,) point indices grouped by cell
  }

  col(wx) { return Math.min(this.g - 1, Math.max(0, Math.floor((wx - this.bounds.x0) / this.cw))); }
  row(wy) { return Math.min(this.g - 1, Math.max(0, Math.floor((wy - this.bounds.y0) / this.ch))); }
  cell(c, r) { return r * this.g + c; }

  /** The nearest point to (wx, wy) within radius r (world units), or -1. */
  nearest(wx, wy, r) {
    if (wx + r < this.bounds.x0 || wx - r > this.bounds.x1 || wy + r < this.bounds.y0 || wy - r > this.bounds.y1) return -1;
    const [c0, c1, r0, r1] = [this.col(wx - r), this.col(wx + r), this.row(wy - r), this.row(wy + r)];
    let best = -1;
    let bestD = r * r;
    for (let row = r0; row <= r1; row++) {
      for (let c = c0; c <= c1; c++) {
        const k = this.cell(c, row);
        for (let j = this.starts[k]; j < this.starts[k + 1]; j++) {
          const i = this.items[j];
          const dx = this.x[i] - wx;
          const dy = this.y[i] - wy;
          const d = dx * dx + dy * dy;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

/**
 * The map canvas. The points are drawn once into an offscreen canvas (covering the view plus a
 * margin); a pan or zoom frame only blits that canvas with a transform and draws the few
 * highlighted points on top. Once the view rests, or the blit would be too blurry or uncovered,
 * the offscreen canvas is redrawn for the new view.
 */
class MapView {
  constructor() {
    this.data = null;
    this.colourMode = "genre";
    this.highlightIds = [];
    this.hover = -1;
    this.view = null;       // {s, tx, ty}: css px = world * s + t
    this.off = null;        // {canvas, s, tx, ty, mx, my, dpr}: the view the offscreen was drawn for
    this.size = { w: 0, h: 0, dpr: 1 };
    this.frame = 0;
    this.loading = false;
    this.loaded = false;
    this.lastFrameMs = 0;
    this.lastRenderMs = 0;
  }

  init() {
    this.canvas = $("map");
    this.ctx = this.canvas.getContext("2d");
    this.wrap = $("map-wrap");
    new ResizeObserver(() => this.resize()).observe(this.wrap);
    const c = this.canvas;
    c.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    c.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    c.addEventListener("pointermove", (e) => this.onPointerMove(e));
    c.addEventListener("pointerup", (e) => this.onPointerUp(e));
    c.addEventListener("pointercancel", () => { this.drag = null; });
    c.addEventListener("pointerleave", () => this.setHover(-1));
    c.addEventListener("dblclick", (e) => { const p = this.local(e); this.zoomAt(p.x, p.y, 2); });
    $("map-reset").addEventListener("click", () => { this.fit(); this.requestDraw(); });
    for (const b of document.querySelectorAll("[data-colour]")) {
      b.addEventListener("click", () => this.setColourMode(b.dataset.colour));
    }
  }

  // -- data

  show() {
    this.resize();
    if (!this.loaded && !this.loading) this.load();
  }

  /** The library changed (re-index): the next visit reloads the map. */
  stale() {
    this.loaded = false;
    if (!$("panel-map").hidden) this.load();
  }

  async load() {
    if (this.loading) return;
    this.loading = true;
    this.error = "";
    const wait = $("map-wait");
    wait.hidden = false;
    wait.textContent = "loading the map…";
    try {
      for (;;) {
        const { status, body } = await api("/api/map");
        if (status === 202) {
          const done = typeof body?.done === "number" ? ` ${Math.round(body.done * 100)}%` : "";
          wait.textContent = `computing the map…${done}`;
          await sleep(1000);
          continue;
        }
        this.setData(body);
        this.loaded = true;
        break;
      }
      wait.hidden = this.data.n > 0;
      if (!this.data.n) wait.textContent = "no tracks indexed yet";
    } catch (err) {
      this.error = err.message;
      showError(err.message);
      wait.textContent = "the map could not be loaded";
    } finally {
      this.loading = false;
    }
  }

  setData(body) {
    const n = Array.isArray(body?.ids) ? body.ids.length : 0;
    for (const key of ["x", "y", "genre", "energy", "labels"]) {
      if (!Array.isArray(body?.[key]) || body[key].length !== n) throw new ApiError(`map data: '${key}' does not match the ids`);
    }
    const genres = Array.isArray(body.genres) ? body.genres.map(String) : [];
    const d = {
      n,
      generation: body.generation,
      ids: body.ids,
      x: Float32Array.from(body.x),           // (n,) 0..1
      y: Float32Array.from(body.y),           // (n,) 0..1
      genre: Int32Array.from(body.genre),     // (n,) index into genres, -1 unknown
      energy: Float32Array.from(body.energy), // (n,) 0..1, -1 unknown
      labels: body.labels,
      genres,
      index: new Map(),
    };
    for (let i = 0; i < n; i++) d.index.set(Number(d.ids[i]), i);
    d.grid = new GridIndex(d.x, d.y);
    d.buckets = {};
    this.data = d;
    this.hover = -1;
    this.fit();
    this.renderLegend();
    $("map-info").textContent = `${n.toLocaleString()} tracks · scroll to zoom, drag to pan, click a point to play`;
    this.invalidate();
  }

  /** Colour key per point and the colours, for the current mode (computed once per mode). */
  colouring() {
    const d = this.data;
    if (d.buckets[this.colourMode]) return d.buckets[this.colourMode];
    const keys = new Uint16Array(d.n);
    let colours;
    if (this.colourMode === "energy") {
      colours = [...Array.from({ length: ENERGY_BINS }, (_, b) => energyColour((b + 0.5) / ENERGY_BINS)), UNKNOWN_COLOUR];
      for (let i = 0; i < d.n; i++) {
        const e = d.energy[i];
        keys[i] = e < 0 || !Number.isFinite(e) ? ENERGY_BINS : Math.min(ENERGY_BINS - 1, Math.floor(e * ENERGY_BINS));
      }
    } else {
      const g = d.genres.length;
      colours = [...d.genres.map((_, k) => genreColour(d.genres, k)), UNKNOWN_COLOUR];
      for (let i = 0; i < d.n; i++) {
        const k = d.genre[i];
        keys[i] = k >= 0 && k < g ? k : g;
      }
    }
    const { starts, order } = colourBuckets(keys, colours.length);
    d.buckets[this.colourMode] = { keys, colours, starts, order };
    return d.buckets[this.colourMode];
  }

  colourOf(i) {
    const c = this.colouring();
    return c.colours[c.keys[i]];
  }

  setColourMode(mode) {
    this.colourMode = mode === "energy" ? "energy" : "genre";
    for (const b of document.querySelectorAll("[data-colour]")) {
      b.setAttribute("aria-pressed", String(b.dataset.colour === this.colourMode));
    }
    this.renderLegend();
    this.invalidate();
  }

  renderLegend() {
    const legend = $("legend");
    const d = this.data;
    if (!d) return legend.replaceChildren();
    if (this.colourMode === "energy") {
      const stops = ENERGY_STOPS.map((c) => `rgb(${c.join(",")})`).join(", ");
      const bar = el("div", { cls: "energy-bar" });
      bar.style.background = `linear-gradient(to right, ${stops})`;
      legend.replaceChildren(
        el("div", { cls: "legend-title", text: "Energy" }), bar,
        el("div", { cls: "energy-ends" }, el("span", { text: "calm" }), el("span", { text: "energetic" })),
        this.legendItem(UNKNOWN_COLOUR, "unknown", null));
      return;
    }
    const counts = new Map();
    for (let i = 0; i < d.n; i++) {
      const k = d.genre[i] >= 0 && d.genre[i] < d.genres.length ? d.genre[i] : -1;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const last = (k) => (d.genres[k] === NO_CLEAR_GENRE ? 1 : 0); // the grey "no call" goes last
    const items = [...counts.entries()].filter(([k]) => k >= 0).sort((a, b) => last(a[0]) - last(b[0]) || b[1] - a[1])
      .map(([k, n]) => this.legendItem(genreColour(d.genres, k), d.genres[k], n));
    if (counts.has(-1)) items.push(this.legendItem(UNKNOWN_COLOUR, "no clear genre", counts.get(-1)));
    legend.replaceChildren(el("div", { cls: "legend-title", text: "Predicted genre" }), ...items);
  }

  legendItem(colour, name, count) {
    const sw = el("span", { cls: "swatch" });
    sw.style.background = colour;
    return el("div", { cls: "legend-item" }, sw, el("span", { cls: "legend-name", text: name }),
      el("span", { cls: "legend-count muted", text: count === null ? "" : count.toLocaleString() }));
  }

  setHighlight(ids) {
    this.highlightIds = ids.map(Number);
    this.requestDraw();
  }

  // -- view

  resize() {
    if (!this.canvas) return;
    const w = this.wrap.clientWidth;
    const h = this.wrap.clientHeight;
    if (!w || !h) return; // hidden tab
    const dpr = window.devicePixelRatio || 1;
    if (w === this.size.w && h === this.size.h && dpr === this.size.dpr) return;
    const old = this.size;
    this.size = { w, h, dpr };
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    if (!this.view || !old.w) this.fit();
    else { // keep the centre where it was
      this.view.tx += (w - old.w) / 2;
      this.view.ty += (h - old.h) / 2;
    }
    this.invalidate();
  }

  fit() {
    const { w, h } = this.size;
    const b = this.data?.grid.bounds ?? { x0: 0, x1: 1, y0: 0, y1: 1 };
    const spanX = Math.max(b.x1 - b.x0, 1e-6);
    const spanY = Math.max(b.y1 - b.y0, 1e-6);
    const pad = 24;
    const s = Math.max(1e-6, Math.min((w - 2 * pad) / spanX, (h - 2 * pad) / spanY));
    this.fitScale = s;
    this.view = { s, tx: w / 2 - ((b.x0 + b.x1) / 2) * s, ty: h / 2 - ((b.y0 + b.y1) / 2) * s };
  }

  zoomAt(px, py, factor) {
    const v = this.view;
    if (!v) return;
    const s = Math.min(Math.max(v.s * factor, this.fitScale * 0.5), this.fitScale * 500);
    const k = s / v.s;
    v.tx = px - (px - v.tx) * k;
    v.ty = py - (py - v.ty) * k;
    v.s = s;
    this.requestDraw();
  }

  panBy(dx, dy) {
    if (!this.view) return;
    this.view.tx += dx;
    this.view.ty += dy;
    this.requestDraw();
  }

  /** Point size in css px: larger for small libraries, growing gently with zoom. */
  pointSize() {
    const n = this.data?.n ?? 0;
    const base = n > 20000 ? 2.2 : n > 2000 ? 3 : n > 200 ? 4.5 : 8;
    return Math.min(14, base * Math.pow(this.view.s / this.fitScale, 0.3));
  }

  screenOf(i) {
    const v = this.view;
    return { x: this.data.x[i] * v.s + v.tx, y: this.data.y[i] * v.s + v.ty };
  }

  // -- events

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  onWheel(e) {
    e.preventDefault();
    const p = this.local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    this.zoomAt(p.x, p.y, Math.exp(-e.deltaY * unit * 0.0015));
  }

  onPointerDown(e) {
    if (e.button !== 0) return;
    const p = this.local(e);
    this.drag = { x: p.x, y: p.y, moved: 0, id: e.pointerId };
    this.canvas.setPointerCapture?.(e.pointerId);
  }

  onPointerMove(e) {
    const p = this.local(e);
    if (this.drag) {
      const dx = p.x - this.drag.x;
      const dy = p.y - this.drag.y;
      this.drag.moved += Math.abs(dx) + Math.abs(dy);
      this.drag.x = p.x;
      this.drag.y = p.y;
      if (this.drag.moved > 4) {
        this.canvas.classList.add("dragging");
        this.setHover(-1);
        this.panBy(dx, dy);
        return;
      }
    }
    this.setHover(this.pick(p.x, p.y), p);
  }

  onPointerUp(e) {
    const drag = this.drag;
    this.drag = null;
    this.canvas.classList.remove("dragging");
    if (!drag || drag.moved > 4) return;
    const p = this.local(e);
    const i = this.pick(p.x, p.y);
    if (i >= 0) playTrack(Number(this.data.ids[i]), String(this.data.labels[i]));
  }

  /** The point under css position (px, py), or -1: a grid lookup, never a scan of all points. */
  pick(px, py) {
    if (!this.data?.n || !this.view) return -1;
    const v = this.view;
    // the list's points are drawn larger and on top, so they win within their drawn radius
    const top = this.pickHighlight(px, py, this.highlightRadius() + 2);
    if (top >= 0) return top;
    const r = Math.max(6, this.pointSize() / 2 + 3) / v.s;
    return this.data.grid.nearest((px - v.tx) / v.s, (py - v.ty) / v.s, r);
  }

  pickHighlight(px, py, r) {
    let best = -1;
    let bestD = r * r;
    for (const id of this.highlightIds) {
      const i = this.data.index.get(id);
      if (i === undefined) continue;
      const p = this.screenOf(i);
      const d = (p.x - px) ** 2 + (p.y - py) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  highlightRadius() {
    return Math.max(4.5, this.pointSize() / 2 + 2.5);
  }

  setHover(i, p) {
    const tip = $("map-tip");
    if (i < 0) {
      tip.hidden = true;
      this.canvas.style.cursor = "";
    } else {
      const d = this.data;
      const genre = d.genre[i] >= 0 ? d.genres[d.genre[i]] ?? "" : "";
      const energy = d.energy[i] >= 0 ? `energy ${d.energy[i].toFixed(2)}` : "";
      tip.replaceChildren(el("div", { cls: "tip-label", text: d.labels[i] }),
        el("div", { cls: "tip-meta muted", text: [genre, energy].filter(Boolean).join(" · ") }));
      tip.hidden = false;
      if (p) {
        const x = Math.min(p.x + 14, this.size.w - tip.offsetWidth - 4);
        const y = p.y + 16 + tip.offsetHeight > this.size.h ? p.y - tip.offsetHeight - 10 : p.y + 16;
        tip.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
      }
      this.canvas.style.cursor = "pointer";
    }
    if (i !== this.hover) {
      this.hover = i;
      this.requestDraw();
    }
  }

  // -- drawing

  /** The points changed (data, colours, size): redraw the offscreen canvas on the next frame. */
  invalidate() {
    this.off = null;
    this.requestDraw();
  }

  requestDraw() {
    if (this.frame || !this.canvas) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** One frame; returns its time in ms (the benchmark reads it). */
  draw() {
    const t0 = performance.now();
    const ctx = this.ctx;
    const { w, h, dpr } = this.size;
    if (!this.view || !w) return 0;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.data?.n) return 0;
    if (this.needsRender()) this.renderOffscreen();
    this.blit();
    this.drawOverlay();
    clearTimeout(this.settle);
    if (this.off.s !== this.view.s || this.off.tx !== this.view.tx || this.off.ty !== this.view.ty) {
      // the view moved: once it rests, redraw the points crisply for it
      this.settle = setTimeout(() => this.invalidate(), 160);
    }
    this.lastFrameMs = performance.now() - t0;
    return this.lastFrameMs;
  }

  /** Redraw the points when the offscreen canvas is missing, would blit too blurry, or leaves a gap. */
  needsRender() {
    const o = this.off;
    if (!o || o.dpr !== this.size.dpr) return true;
    const v = this.view;
    const k = v.s / o.s;
    if (k > 2.5 || k < 0.6) return true;
    // where the offscreen canvas's corners land in the current view
    const left = (-o.mx - o.tx) * k + v.tx;
    const top = (-o.my - o.ty) * k + v.ty;
    const right = (this.size.w + o.mx - o.tx) * k + v.tx;
    const bottom = (this.size.h + o.my - o.ty) * k + v.ty;
    return left > 0 || top > 0 || right < this.size.w || bottom < this.size.h;
  }

  renderOffscreen() {
    const t0 = performance.now();
    const { w, h, dpr } = this.size;
    const v = this.view;
    // a margin of a third of the view on each side lets a pan blit without a gap
    const mx = Math.round(w / 3);
    const my = Math.round(h / 3);
    // one offscreen canvas for the page's life: `off` is cleared to ask for a redraw, not a new canvas
    this.offStore ??= { canvas: document.createElement("canvas") };
    const o = this.offStore;
    const cw = Math.round((w + 2 * mx) * dpr);
    const ch = Math.round((h + 2 * my) * dpr);
    if (o.canvas.width !== cw || o.canvas.height !== ch) {
      o.canvas.width = cw;
      o.canvas.height = ch;
    }
    Object.assign(o, { s: v.s, tx: v.tx, ty: v.ty, mx, my, dpr });
    const ctx = o.canvas.getContext("2d");
    if (this.data.n > 5000) this.renderPixels(o, ctx);
    else this.renderCircles(o, ctx);
    this.off = o;
    this.lastRenderMs = performance.now() - t0;
  }

  /** Small libraries: anti-aliased circles, one path per colour. */
  renderCircles(o, ctx) {
    const { w, h, dpr } = this.size;
    const { s, tx, ty, mx, my } = o;
    const d = this.data;
    const { colours, starts, order } = this.colouring();
    const half = this.pointSize() / 2;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, o.canvas.width, o.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, mx * dpr, my * dpr); // css px of the view -> offscreen pixels
    ctx.globalAlpha = 0.95;
    for (let b = 0; b < colours.length; b++) {
      if (starts[b] === starts[b + 1]) continue;
      ctx.fillStyle = colours[b];
      ctx.beginPath();
      for (let j = starts[b]; j < starts[b + 1]; j++) {
        const i = order[j];
        const sx = d.x[i] * s + tx;
        const sy = d.y[i] * s + ty;
        if (sx < -mx - half || sx > w + mx + half || sy < -my - half || sy > h + my + half) continue;
        ctx.moveTo(sx + half, sy);
        ctx.arc(sx, sy, half, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
  }

  /** Big libraries: square points written straight into the pixels, several times faster than
   * paths at 50,000 points with a software canvas. */
  renderPixels(o, ctx) {
    const { dpr } = this.size;
    const { s, tx, ty, mx, my } = o;
    const cw = o.canvas.width;
    const ch = o.canvas.height;
    if (!o.image || o.image.width !== cw || o.image.height !== ch) {
      o.image = ctx.createImageData(cw, ch);
      o.pixels = new Uint32Array(o.image.data.buffer); // (ch * cw,) RGBA, one uint32 a pixel
    } else {
      o.pixels.fill(0);
    }
    const px = o.pixels;
    const d = this.data;
    const { colours, keys } = this.colouring();
    const packed = Uint32Array.from(colours, packColour);
    const size = Math.max(1, Math.round(this.pointSize() * dpr));
    const half = size / 2;
    const ox = mx * dpr - half;
    const oy = my * dpr - half;
    const k = s * dpr;
    const txd = tx * dpr;
    const tyd = ty * dpr;
    for (let i = 0; i < d.n; i++) {
      const x0 = Math.round(d.x[i] * k + txd + ox);
      const y0 = Math.round(d.y[i] * k + tyd + oy);
      if (x0 < 0 || y0 < 0 || x0 + size > cw || y0 + size > ch) continue;
      const c = packed[keys[i]];
      for (let yy = 0; yy < size; yy++) {
        const row = (y0 + yy) * cw + x0;
        for (let xx = 0; xx < size; xx++) px[row + xx] = c;
      }
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.putImageData(o.image, 0, 0);
  }

  blit() {
    const o = this.off;
    const v = this.view;
    const { dpr } = this.size;
    const k = v.s / o.s;
    // offscreen pixel p holds css point p/dpr - m of the old view; in the current view that is
    // (p/dpr - m - t_old) * k + t_new css px, i.e. device px p*k + ((t_new - (m + t_old) * k) * dpr)
    const offX = (v.tx - (o.mx + o.tx) * k) * dpr;
    const offY = (v.ty - (o.my + o.ty) * k) * dpr;
    // copy only the part that lands on the canvas: a software canvas pays for every source pixel
    const sx = Math.max(0, Math.floor(-offX / k));
    const sy = Math.max(0, Math.floor(-offY / k));
    const sw = Math.min(o.canvas.width, Math.ceil((this.canvas.width - offX) / k)) - sx;
    const sh = Math.min(o.canvas.height, Math.ceil((this.canvas.height - offY) / k)) - sy;
    if (sw <= 0 || sh <= 0) return;
    this.ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.ctx.imageSmoothingEnabled = k !== 1;
    this.ctx.drawImage(o.canvas, sx, sy, sw, sh, sx * k + offX, sy * k + offY, sw * k, sh * k);
  }

  /** The list's tracks, larger with an outline; the playing and hovered points ringed. */
  drawOverlay() {
    const ctx = this.ctx;
    const d = this.data;
    const { w, h, dpr } = this.size;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const outline = getComputedStyle(document.body).getPropertyValue("--map-outline").trim() || "#000";
    const r = this.highlightRadius();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = outline;
    for (const id of this.highlightIds) {
      const i = d.index.get(id);
      if (i === undefined) continue;
      const p = this.screenOf(i);
      if (p.x < -r || p.y < -r || p.x > w + r || p.y > h + r) continue;
      ctx.beginPath();
      ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
      ctx.fillStyle = this.colourOf(i);
      ctx.fill();
      ctx.stroke();
    }
    const playing = state.playing ? d.index.get(state.playing.id) : undefined;
    if (playing !== undefined) this.ring(playing, r + 4, outline, 2.5);
    if (this.hover >= 0) this.ring(this.hover, r + 2, outline, 1.5);
  }

  ring(i, r, colour, width) {
    const p = this.screenOf(i);
    const ctx = this.ctx;
    ctx.beginPath();
    ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
    ctx.lineWidth = width;
    ctx.strokeStyle = colour;
    ctx.stroke();
  }
}

const mapView = new MapView();

// For the browser test and manual checks: a small read-only window onto the map.
window.muserMap = {
  get pointCount() { return mapView.data?.n ?? 0; },
  /** Points drawn so far: 0 until the offscreen canvas has been rendered once. */
  get drawn() { return mapView.off && mapView.data ? mapView.data.n : 0; },
  /** The last load's error message, "" when none. */
  get error() { return mapView.error ?? ""; },
  get lastFrameMs() { return mapView.lastFrameMs; },
  get lastRenderMs() { return mapView.lastRenderMs; },
  /** Where track `id` lies: css px in the canvas and in the viewport (for clicks), or null. */
  screenPosition(id) {
    const i = mapView.data?.index.get(Number(id));
    if (i === undefined || !mapView.view) return null;
    const p = mapView.screenOf(i);
    const r = mapView.canvas.getBoundingClientRect();
    return { x: p.x, y: p.y, clientX: r.left + p.x, clientY: r.top + p.y };
  },
  ids() { return mapView.data ? Array.from(mapView.data.ids, Number) : []; },
  zoomAt: (x, y, f) => mapView.zoomAt(x, y, f),
  panBy: (dx, dy) => mapView.panBy(dx, dy),
  drawNow: () => mapView.draw(),
  setColourMode: (m) => mapView.setColourMode(m),
};

// ---- start --------------------------------------------------------------------------------------

function init() {
  mapView.init();
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });
  $("q").addEventListener("input", searchSoon);
  $("q").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); runSearch(); } });
  $("f-genre").addEventListener("change", runSearch);
  $("f-energy").addEventListener("change", runSearch);
  $("f-artist").addEventListener("input", searchSoon);
  $("f-year").addEventListener("input", searchSoon);
  $("f-clear").addEventListener("click", () => {
    for (const id of ["f-genre", "f-energy", "f-artist", "f-year"]) $(id).value = "";
    runSearch();
  });
  $("results").addEventListener("click", onRowAction);
  $("path-cancel").addEventListener("click", () => { state.pathFrom = null; showPathHint(); markRows(); });
  $("save-m3u").addEventListener("click", saveM3u);
  $("message-close").addEventListener("click", clearError);
  $("reindex").addEventListener("click", startReindex);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  const player = $("player");
  player.addEventListener("error", onPlayerError);
  player.addEventListener("ended", playNext);
  player.addEventListener("play", markRows);
  player.addEventListener("pause", markRows);
  document.addEventListener("keydown", (e) => {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
    if (e.key === "/" && !typing) { e.preventDefault(); showTab("search"); $("q").select(); }
  });
  showTab(window.location.hash.slice(1));
  $("q").focus();
  loadGenres();
  loadStatus();
}

document.addEventListener("DOMContentLoaded", init);
