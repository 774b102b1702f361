/*!
 * <upcoming-sessions>: an embeddable list of an organization's upcoming
 * meetings, read from GET /api/v2/organizations/:id/upcoming_meetings.
 *
 * No dependencies, no build step: one classic script tag, then the element.
 *
 *   <script src="https://api.example.org/widget/upcoming-sessions.js" defer></script>
 *   <upcoming-sessions
 *       api-base="https://api.example.org"
 *       organization="5"
 *       token="YOUR-API-TOKEN"
 *       series="412"
 *       items="5"></upcoming-sessions>
 *
 * Attributes (all observed: changing one reloads the list):
 *   api-base      Origin (and optional path prefix) of the API. Default: this page's origin.
 *                 A different origin must be listed in the API's API_CORS_ORIGINS.
 *   organization  The organization id (required).
 *   token         The API token, sent as "Authorization: Bearer <token>" (required).
 *                 It is visible to anyone who views the page: use a token meant for that.
 *   series        Only meetings of this recurring series (meeting_series_id). Optional.
 *   items         Meetings per page, 1..100. Default 5.
 *   page          The page to show first. Default 1. Paging does not write it back.
 *   locale        BCP 47 locale for dates and times, e.g. "en-GB". Default: the browser's.
 *   time-zone     IANA time zone, e.g. "Europe/Berlin". Default: the browser's.
 *   heading       The widget's title. Default "Upcoming sessions".
 *
 * Events (bubbling, composed): "sessions-loaded" with detail {page, totalPages,
 * totalItems, meetings}; "sessions-error" with detail {status, message}.
 * Method: refresh() reloads the current page.
 *
 * Styling: CSS custom properties on the element (--us-accent, --us-accent-contrast,
 * --us-text, --us-muted, --us-bg, --us-surface, --us-border, --us-radius, --us-font)
 * and parts (::part(card), ::part(pager), ::part(badge), ::part(seats)).
 *
 * All data is written with textContent; no markup from the API is ever parsed.
 */
(() => {
  "use strict";

  const TAG = "upcoming-sessions";
  if (customElements.get(TAG)) return;

  const DEFAULT_ITEMS = 5;
  const LOCATIONS = { heypeers: "HeyPeers", zoom: "Zoom" };

  const CSS = `
:host {
  --us-accent: #4338ca;
  --us-accent-contrast: #ffffff;
  --us-text: #111827;
  --us-muted: #4b5563;
  --us-bg: #ffffff;
  --us-surface: #f9fafb;
  --us-border: #e5e7eb;
  --us-radius: 14px;
  --us-font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  display: block;
  container-type: inline-size;
  color: var(--us-text);
  font-family: var(--us-font);
  font-size: 1rem;
  line-height: 1.45;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: border-box; }

.widget {
  background: var(--us-bg);
  border: 1px solid var(--us-border);
  border-radius: var(--us-radius);
  box-shadow: 0 1px 2px rgb(17 24 39 / 0.04), 0 8px 24px rgb(17 24 39 / 0.06);
  padding: 1.25rem;
  position: relative;
  overflow: hidden;
}
.head {
  display: flex;
  flex-wrap: wrap;
  align-items: baseline;
  justify-content: space-between;
  gap: 0.25rem 1rem;
  margin-bottom: 1rem;
}
h2 {
  margin: 0;
  font-size: 1.25rem;
  line-height: 1.3;
  font-weight: 700;
  letter-spacing: -0.01em;
}
h2:focus { outline: none; }
h2:focus-visible { outline: 3px solid var(--us-accent); outline-offset: 3px; border-radius: 4px; }
.count { margin: 0; color: var(--us-muted); font-size: 0.875rem; }

.progress {
  position: absolute;
  inset: 0 0 auto 0;
  height: 3px;
  background: linear-gradient(90deg, transparent, var(--us-accent), transparent);
  background-size: 50% 100%;
  background-repeat: no-repeat;
  opacity: 0;
  transition: opacity 150ms;
}
.widget[aria-busy="true"] .progress {
  opacity: 1;
  animation: slide 1.1s linear infinite;
}
@keyframes slide {
  from { background-position: -50% 0; }
  to { background-position: 150% 0; }
}

.list {
  list-style: none;
  margin: 0;
  padding: 0;
  display: grid;
  gap: 0.75rem;
  transition: opacity 150ms;
}
.widget[aria-busy="true"] .list { opacity: 0.55; }

.card {
  display: grid;
  grid-template-columns: 4rem 1fr;
  gap: 0.25rem 1rem;
  padding: 1rem;
  border: 1px solid var(--us-border);
  border-radius: calc(var(--us-radius) - 4px);
  background: var(--us-bg);
}
.date {
  display: flex;
  flex-direction: column;
  align-items: center;
  justify-content: center;
  align-self: start;
  padding: 0.5rem 0.25rem;
  border-radius: 10px;
  background: #eef2ff;
  background: color-mix(in srgb, var(--us-accent) 9%, var(--us-bg));
  color: var(--us-accent);
  text-align: center;
  line-height: 1.1;
}
.date .month { font-size: 0.75rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.06em; }
.date .day { font-size: 1.5rem; font-weight: 800; }
.date .weekday { font-size: 0.75rem; font-weight: 600; }
.main { min-width: 0; }
h3 {
  margin: 0 0 0.25rem;
  font-size: 1.0625rem;
  line-height: 1.3;
  font-weight: 650;
  overflow-wrap: anywhere;
}
.when {
  margin: 0;
  color: var(--us-muted);
  font-size: 0.9375rem;
}
.when .duration { white-space: nowrap; }
.when .sep { margin: 0 0.4em; }
.description {
  margin: 0.5rem 0 0;
  color: var(--us-muted);
  font-size: 0.9375rem;
  overflow-wrap: anywhere;
  display: -webkit-box;
  -webkit-line-clamp: 2;
  -webkit-box-orient: vertical;
  overflow: hidden;
}
.tags {
  display: flex;
  flex-wrap: wrap;
  gap: 0.375rem;
  margin: 0.625rem 0 0;
  padding: 0;
  list-style: none;
}
.badge {
  display: inline-flex;
  align-items: center;
  gap: 0.3rem;
  padding: 0.125rem 0.55rem;
  border-radius: 999px;
  font-size: 0.8125rem;
  font-weight: 600;
  line-height: 1.5;
  border: 1px solid transparent;
  white-space: nowrap;
}
.badge svg { width: 0.9em; height: 0.9em; flex: none; }
.topic { background: #f3f4f6; color: #374151; white-space: normal; overflow-wrap: anywhere; }
.loc-heypeers { background: #ede9fe; color: #5b21b6; }
.loc-zoom { background: #dbeafe; color: #1e40af; }
.loc-other { background: #f3f4f6; color: #374151; }

.foot {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  justify-content: space-between;
  gap: 0.5rem 1rem;
  margin-top: 0.75rem;
  padding-top: 0.75rem;
  border-top: 1px dashed var(--us-border);
}
.leader { display: flex; align-items: center; gap: 0.5rem; min-width: 0; margin: 0; }
.avatar {
  position: relative;
  flex: none;
  width: 2rem;
  height: 2rem;
  border-radius: 50%;
  overflow: hidden;
  display: grid;
  place-items: center;
  background: #e0e7ff;
  color: #3730a3;
  font-size: 0.75rem;
  font-weight: 700;
}
.avatar img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; }
.leader-text { font-size: 0.9375rem; min-width: 0; overflow-wrap: anywhere; }
.leader-text .label { color: var(--us-muted); }
.leader-text .name { font-weight: 600; }
.seats { background: #dcfce7; color: #166534; }
.seats.low { background: #fef3c7; color: #92400e; }
.seats.full { background: #fee2e2; color: #991b1b; }

.state {
  display: grid;
  justify-items: center;
  gap: 0.5rem;
  padding: 2rem 1rem;
  border: 1px dashed var(--us-border);
  border-radius: calc(var(--us-radius) - 4px);
  background: var(--us-surface);
  text-align: center;
}
.state p { margin: 0; }
.state .title { font-weight: 650; }
.state .detail { color: var(--us-muted); font-size: 0.9375rem; max-width: 36em; }
.state.error { border-style: solid; border-color: #fecaca; background: #fef2f2; }
.state.error .title { color: #991b1b; }

.skeleton { display: grid; gap: 0.75rem; }
.skeleton div {
  height: 6.5rem;
  border-radius: calc(var(--us-radius) - 4px);
  background: linear-gradient(90deg, #f3f4f6 25%, #e5e7eb 37%, #f3f4f6 63%);
  background-size: 400% 100%;
  animation: shimmer 1.4s ease infinite;
}
@keyframes shimmer {
  from { background-position: 100% 50%; }
  to { background-position: 0 50%; }
}

.pager {
  display: flex;
  align-items: center;
  justify-content: space-between;
  gap: 0.75rem;
  margin-top: 1rem;
}
.pager[hidden] { display: none; }
.page-label { color: var(--us-muted); font-size: 0.9375rem; font-variant-numeric: tabular-nums; text-align: center; }
button {
  font: inherit;
  font-size: 0.9375rem;
  font-weight: 600;
  min-height: 2.75rem;
  min-width: 2.75rem;
  padding: 0.5rem 1rem;
  border-radius: 10px;
  border: 1px solid var(--us-accent);
  background: var(--us-accent);
  color: var(--us-accent-contrast);
  cursor: pointer;
  display: inline-flex;
  align-items: center;
  justify-content: center;
  gap: 0.35rem;
  transition: background-color 120ms, color 120ms, box-shadow 120ms;
}
button.secondary { background: var(--us-bg); color: var(--us-accent); }
button:hover:not(:disabled) { box-shadow: 0 2px 8px rgb(67 56 202 / 0.25); }
button:focus-visible { outline: 3px solid var(--us-accent); outline-offset: 3px; }
button:disabled {
  cursor: not-allowed;
  background: var(--us-surface);
  border-color: var(--us-border);
  color: #6b7280;
  box-shadow: none;
}
button svg { width: 1em; height: 1em; }

.sr-only {
  position: absolute !important;
  width: 1px;
  height: 1px;
  padding: 0;
  margin: -1px;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}

@container (max-width: 480px) {
  .widget { padding: 1rem; }
  /* The date beside the title; everything else under both, full width. */
  .card { grid-template-columns: 3.25rem 1fr; gap: 0 0.75rem; padding: 0.875rem; }
  .main { display: contents; }
  .date { grid-row: span 1; padding: 0.375rem 0.25rem; }
  .date .weekday { display: none; }
  .date .day { font-size: 1.25rem; }
  h3 { align-self: center; margin: 0; }
  .when, .tags, .description, .foot { grid-column: 1 / -1; }
  .when { margin-top: 0.625rem; }
  .pager button .text { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .pager button { padding: 0.5rem 0.75rem; }
}
@container (max-width: 280px) {
  .card { grid-template-columns: 1fr; }
  .date { flex-direction: row; gap: 0.4rem; justify-self: start; padding: 0.25rem 0.6rem; margin-bottom: 0.5rem; }
  .date .day { font-size: 1rem; }
}

@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
  .widget[aria-busy="true"] .progress { background: var(--us-accent); opacity: 0.6; }
}
@media (forced-colors: active) {
  .badge, .card, .date, .state { border: 1px solid CanvasText; }
  button:disabled { color: GrayText; border-color: GrayText; }
}
`;

  const ICONS = {
    heypeers:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle cx="5.5" cy="5" r="2.5" fill="currentColor"/><circle cx="11" cy="6" r="2" fill="currentColor"/><path d="M1 13c0-2.5 2-4 4.5-4S10 10.5 10 13v1H1z" fill="currentColor"/><path d="M11 9c2 0 4 1.2 4 3.4V14h-4z" fill="currentColor"/></svg>',
    zoom:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><rect x="1" y="4" width="10" height="8" rx="2" fill="currentColor"/><path d="M12 7l3-2v6l-3-2z" fill="currentColor"/></svg>',
    prev:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M10 3L5 8l5 5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    next:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M6 3l5 5-5 5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  };

  // Static markup only; nothing here comes from attributes or the API.
  const TEMPLATE = `
<section class="widget" part="widget" aria-busy="false">
  <div class="progress" aria-hidden="true"></div>
  <div class="head">
    <h2 tabindex="-1"></h2>
    <p class="count"></p>
  </div>
  <p class="sr-only status" role="status" aria-live="polite" aria-atomic="true"></p>
  <div class="body"></div>
  <nav class="pager" part="pager" aria-label="Pages" hidden>
    <button type="button" class="secondary prev" aria-label="Previous page">${ICONS.prev}<span class="text">Previous</span></button>
    <span class="page-label"></span>
    <button type="button" class="secondary next" aria-label="Next page"><span class="text">Next</span>${ICONS.next}</button>
  </nav>
</section>`;

  let sharedSheet = null;
  function styleInto(root) {
    if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
      if (!sharedSheet) {
        sharedSheet = new CSSStyleSheet();
        sharedSheet.replaceSync(CSS);
      }
      root.adoptedStyleSheets = [sharedSheet];
    } else {
      const style = document.createElement("style");
      style.textContent = CSS;
      root.append(style);
    }
  }

  /** A positive integer from an attribute value, or null. */
  function positiveInt(value) {
    if (value == null) return null;
    const text = String(value).trim();
    if (!/^[0-9]+$/.test(text)) return null;
    const number = Number.parseInt(text, 10);
    return number >= 1 ? number : null;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function initials(name) {
    const letters = String(name || "")
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((part) => part[0].toUpperCase());
    return letters.join("") || "?";
  }

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many}`;
  }

  function errorFor(status) {
    switch (status) {
      case 401:
        return {
          title: "Not authorized",
          detail:
            "This widget isn't allowed to show these sessions. Check its organization and token.",
          retry: false,
        };
      case 422:
        return {
          title: "Invalid series",
          detail: "The series setting must be a positive whole number.",
          retry: false,
        };
      case 503:
        return {
          title: "Temporarily unavailable",
          detail: "Sessions can't be loaded right now. Please try again in a moment.",
          retry: true,
        };
      case 0:
        return {
          title: "Can't reach the server",
          detail: "Sessions couldn't be loaded. Check your connection and try again.",
          retry: true,
        };
      default:
        return {
          title: "Something went wrong",
          detail: `Sessions couldn't be loaded (error ${status}). Please try again.`,
          retry: true,
        };
    }
  }

  class UpcomingSessions extends HTMLElement {
    static get observedAttributes() {
      return ["api-base", "organization", "token", "series", "items", "page", "locale", "time-zone", "heading"];
    }

    constructor() {
      super();
      const root = this.attachShadow({ mode: "open" });
      styleInto(root);
      const template = document.createElement("template");
      template.innerHTML = TEMPLATE;
      root.append(template.content.cloneNode(true));
      this._position = null; // X-Consistency-Token of the last answer
      this._section = root.querySelector(".widget");
      this._heading = root.querySelector("h2");
      this._count = root.querySelector(".count");
      this._status = root.querySelector(".status");
      this._body = root.querySelector(".body");
      this._pager = root.querySelector(".pager");
      this._prev = root.querySelector(".prev");
      this._next = root.querySelector(".next");
      this._pageLabel = root.querySelector(".page-label");
      this._page = 1;
      this._totalPages = 0;
      this._loading = null; // AbortController of the request in flight
      this._scheduled = false;
      this._lastData = null;
      this._prev.addEventListener("click", () => this._go(this._page - 1, this._prev));
      this._next.addEventListener("click", () => this._go(this._page + 1, this._next));
    }

    connectedCallback() {
      this._renderHeading();
      this._page = positiveInt(this.getAttribute("page")) || 1;
      this._schedule();
    }

    disconnectedCallback() {
      if (this._loading) this._loading.abort();
      this._loading = null;
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (oldValue === newValue || !this.isConnected) return;
      if (name === "heading") {
        this._renderHeading();
        return;
      }
      if (name === "locale" || name === "time-zone") {
        this._formats = null;
        if (this._lastData) this._render(this._lastData);
        return;
      }
      // A different query: start again from the page asked for (or the first).
      this._page = positiveInt(this.getAttribute("page")) || 1;
      this._schedule();
    }

    /** Reload the current page. */
    refresh() {
      this._load(null);
    }

    // Several attributes set in one task give one request.
    _schedule() {
      if (this._scheduled) return;
      this._scheduled = true;
      queueMicrotask(() => {
        this._scheduled = false;
        if (this.isConnected) this._load(null);
      });
    }

    _go(page, button) {
      if (page < 1 || page > this._totalPages || this._loading) return;
      this._page = page;
      this._load(button);
    }

    _renderHeading() {
      const heading = (this.getAttribute("heading") || "").trim() || "Upcoming sessions";
      this._heading.textContent = heading;
      this._section.setAttribute("aria-label", heading);
    }

    _itemsPerPage() {
      const items = positiveInt(this.getAttribute("items"));
      return items ? Math.min(items, 100) : DEFAULT_ITEMS;
    }

    _url() {
      const base = (this.getAttribute("api-base") || "").trim() || window.location.origin;
      const organization = (this.getAttribute("organization") || "").trim();
      const params = new URLSearchParams();
      const series = (this.getAttribute("series") || "").trim();
      if (series) params.set("meeting_series_id", series);
      params.set("page", String(this._page));
      params.set("items", String(this._itemsPerPage()));
      const path = `/api/v2/organizations/${encodeURIComponent(organization)}/upcoming_meetings`;
      return `${base.replace(/\/+$/, "")}${path}?${params}`;
    }

    _announce(message) {
      // Cleared first so that the same words twice are announced twice.
      this._status.textContent = "";
      requestAnimationFrame(() => {
        this._status.textContent = message;
      });
    }

    async _load(trigger) {
      if (this._loading) this._loading.abort();
      const organization = (this.getAttribute("organization") || "").trim();
      const token = (this.getAttribute("token") || "").trim();
      if (!organization || !token) {
        this._loading = null;
        this._lastData = null;
        const missing = [!organization && "organization", !token && "token"].filter(Boolean);
        this._showState("error", "Widget not configured", `Set the ${missing.join(" and ")} attribute${missing.length > 1 ? "s" : ""}.`, false);
        this._announce("Upcoming sessions: the widget is not configured.");
        return;
      }
      const controller = new AbortController();
      this._loading = controller;
      this._section.setAttribute("aria-busy", "true");
      if (!this._lastData) this._showSkeleton();
      this._announce("Loading upcoming sessions…");

      let status = 0;
      let data = null;
      try {
        const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
        // The position of the last answer: the next one is never older (paging
        // never goes back in time).
        if (this._position) headers["X-Consistency-Token"] = this._position;
        const response = await fetch(this._url(), {
          headers,
          credentials: "omit",
          signal: controller.signal,
        });
        status = response.status;
        const position = response.headers.get("X-Consistency-Token");
        if (position !== null && response.ok) this._position = position;
        if (response.ok) {
          data = await response.json();
          if (!data || !Array.isArray(data.meetings)) throw new TypeError("unexpected response");
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (status === 200) status = -1; // answered, but not with a page
      }
      if (this._loading !== controller) return; // a newer request took over
      this._loading = null;
      this._section.setAttribute("aria-busy", "false");

      if (data) {
        const totalPages = Number(data.total_pages) || 0;
        if (data.meetings.length === 0 && totalPages > 0 && this._page > totalPages) {
          this._page = totalPages; // the list shrank under us
          this._load(trigger);
          return;
        }
        this._lastData = data;
        this._render(data);
        this._keepFocus(trigger);
        this._announceResults(data);
        this._emit("sessions-loaded", {
          page: this._page,
          totalPages,
          totalItems: Number(data.total_items) || 0,
          meetings: data.meetings,
        });
      } else {
        this._lastData = null;
        const message = errorFor(status === -1 ? 500 : status);
        this._showState("error", message.title, message.detail, message.retry);
        this._announce(`${message.title}. ${message.detail}`);
        this._emit("sessions-error", { status, message: message.detail });
      }
    }

    _emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
    }

    _announceResults(data) {
      const total = Number(data.total_items) || 0;
      if (total === 0) {
        this._announce("No upcoming sessions.");
        return;
      }
      const size = Number(data.items) || this._itemsPerPage();
      const first = (this._page - 1) * size + 1;
      const last = first + data.meetings.length - 1;
      const range = first === last ? `session ${first}` : `sessions ${first} to ${last}`;
      this._announce(`Page ${this._page} of ${data.total_pages}: showing ${range} of ${total}.`);
    }

    _keepFocus(trigger) {
      if (!trigger) return;
      // Stay on the button pressed; if it is now disabled (an end), move to the other one.
      const other = trigger === this._next ? this._prev : this._next;
      if (!trigger.disabled) trigger.focus();
      else if (!other.disabled) other.focus();
      else this._heading.focus();
    }

    _formatters() {
      if (this._formats) return this._formats;
      const locale = (this.getAttribute("locale") || "").trim() || undefined;
      const timeZone = (this.getAttribute("time-zone") || "").trim() || undefined;
      const make = (options) => {
        try {
          return new Intl.DateTimeFormat(locale, { ...options, timeZone });
        } catch {
          return new Intl.DateTimeFormat(undefined, options); // bad locale or zone
        }
      };
      this._formats = {
        month: make({ month: "short" }),
        day: make({ day: "numeric" }),
        weekday: make({ weekday: "short" }),
        date: make({ weekday: "long", month: "long", day: "numeric" }),
        time: make({ hour: "numeric", minute: "2-digit" }),
        zone: make({ hour: "numeric", timeZoneName: "short" }),
      };
      return this._formats;
    }

    // "3:00 – 4:00 PM UTC"; "11:30 PM – Wed 12:30 AM UTC" when it ends on another day.
    _timeRange(start, end) {
      const f = this._formatters();
      const zone = f.zone.formatToParts(start).find((part) => part.type === "timeZoneName");
      let range = f.time.format(start);
      if (!Number.isNaN(end.getTime()) && end > start) {
        if (f.date.format(start) !== f.date.format(end)) {
          range = `${range} – ${f.weekday.format(end)} ${f.time.format(end)}`;
        } else if (typeof f.time.formatRange === "function") {
          range = f.time.formatRange(start, end);
        } else {
          range = `${range} – ${f.time.format(end)}`;
        }
      }
      return zone ? `${range} ${zone.value}` : range;
    }

    _showSkeleton() {
      const skeleton = el("div", "skeleton");
      skeleton.setAttribute("aria-hidden", "true");
      for (let i = 0; i < Math.min(this._itemsPerPage(), 3); i += 1) skeleton.append(el("div"));
      this._body.replaceChildren(skeleton);
      this._count.textContent = "";
      this._count.hidden = true;
      this._pager.hidden = true;
    }

    _showState(kind, title, detail, retry) {
      const box = el("div", `state ${kind}`);
      box.append(el("p", "title", title));
      if (detail) box.append(el("p", "detail", detail));
      if (retry) {
        const button = el("button", "secondary retry", "Try again");
        button.type = "button";
        button.addEventListener("click", () => this._load(null));
        box.append(button);
      }
      this._body.replaceChildren(box);
      this._count.textContent = "";
      this._count.hidden = true;
      this._pager.hidden = true;
      this._totalPages = 0;
    }

    _render(data) {
      const meetings = data.meetings;
      const total = Number(data.total_items) || 0;
      this._totalPages = Number(data.total_pages) || 0;
      if (total === 0 || meetings.length === 0) {
        this._showState(
          "empty",
          "No upcoming sessions",
          total === 0 ? "New sessions will appear here as soon as they are scheduled." : "This page is empty.",
          false,
        );
        this._totalPages = Number(data.total_pages) || 0;
        return;
      }
      this._count.textContent = plural(total, "session", "sessions");
      this._count.hidden = false;
      const list = el("ol", "list");
      list.setAttribute("aria-label", "Sessions");
      for (const meeting of meetings) list.append(this._card(meeting));
      this._body.replaceChildren(list);

      this._pager.hidden = this._totalPages <= 1;
      this._pageLabel.textContent = `Page ${this._page} of ${this._totalPages}`;
      this._prev.disabled = this._page <= 1;
      this._next.disabled = this._page >= this._totalPages;
    }

    _card(meeting) {
      const f = this._formatters();
      const start = new Date(meeting.start_time);
      const end = new Date(meeting.end_time);
      const valid = !Number.isNaN(start.getTime());
      const titleId = `session-${String(meeting.id).replace(/[^A-Za-z0-9_-]/g, "")}`;

      const item = el("li");
      const card = el("article", "card");
      card.setAttribute("part", "card");
      card.setAttribute("aria-labelledby", titleId);

      const date = el("div", "date");
      date.setAttribute("aria-hidden", "true"); // the full date is in the text below
      if (valid) {
        date.append(
          el("span", "month", f.month.format(start)),
          el("span", "day", f.day.format(start)),
          el("span", "weekday", f.weekday.format(start)),
        );
      }

      const main = el("div", "main");
      const title = el("h3", null, meeting.name || "Untitled session");
      title.id = titleId;
      main.append(title);

      const when = el("p", "when");
      if (valid) {
        const time = el("time", "datetime");
        time.dateTime = start.toISOString();
        time.textContent = `${f.date.format(start)}, ${this._timeRange(start, end)}`;
        when.append(time);
      }
      if (meeting.duration) {
        if (valid) {
          const sep = el("span", "sep", "·");
          sep.setAttribute("aria-hidden", "true");
          when.append(sep);
        }
        const duration = el("span", "duration");
        duration.append(el("span", "sr-only", valid ? ", lasting " : "Lasting "), el("span", "value", meeting.duration));
        if (Number.isFinite(meeting.duration_in_minutes)) {
          duration.setAttribute("title", plural(meeting.duration_in_minutes, "minute", "minutes"));
        }
        when.append(duration);
      }
      main.append(when);

      const tags = el("ul", "tags");
      tags.setAttribute("aria-label", "Details");
      if (meeting.topic) {
        const topic = el("li", "badge topic");
        topic.append(el("span", "sr-only", "Topic: "), el("span", "value", meeting.topic));
        tags.append(topic);
      }
      tags.append(this._locationBadge(meeting.location));
      main.append(tags);

      if (meeting.description) main.append(el("p", "description", meeting.description));

      const foot = el("div", "foot");
      foot.append(this._leader(meeting.group_leader), this._seats(meeting));
      main.append(foot);

      card.append(date, main);
      item.append(card);
      return item;
    }

    _locationBadge(location) {
      const key = String(location || "").toLowerCase();
      const known = Object.prototype.hasOwnProperty.call(LOCATIONS, key);
      const badge = el("li", `badge location ${known ? `loc-${key}` : "loc-other"}`);
      badge.setAttribute("part", "badge");
      if (known) {
        const icon = document.createElement("template");
        icon.innerHTML = ICONS[key]; // static
        badge.append(icon.content);
      }
      badge.append(
        el("span", "sr-only", "Location: "),
        el("span", "value", known ? LOCATIONS[key] : String(location || "Online")),
      );
      return badge;
    }

    _leader(leader) {
      const box = el("p", "leader");
      const name = (leader && leader.name) || "";
      const avatar = el("span", "avatar", initials(name));
      avatar.setAttribute("aria-hidden", "true");
      if (leader && typeof leader.avatar === "string" && /^https?:\/\//i.test(leader.avatar)) {
        const img = el("img");
        img.alt = "";
        img.loading = "lazy";
        img.decoding = "async";
        img.referrerPolicy = "no-referrer";
        img.width = 32;
        img.height = 32;
        img.addEventListener("error", () => img.remove()); // the initials show instead
        img.src = leader.avatar;
        avatar.append(img);
      }
      const text = el("span", "leader-text");
      text.append(el("span", "label", "Facilitator: "), el("span", "name", name || "To be announced"));
      box.append(avatar, text);
      return box;
    }

    _seats(meeting) {
      const max = Number(meeting.max_attendees);
      const registered = Number(meeting.registered_attendees);
      const badge = el("span", "badge seats");
      badge.setAttribute("part", "seats");
      if (!Number.isFinite(max) || !Number.isFinite(registered)) return badge;
      const left = Math.max(0, max - registered);
      if (left === 0) {
        badge.classList.add("full");
        badge.append(el("span", "value", "Full"), el("span", "sr-only", ": no seats left"));
      } else {
        if (left <= 3) badge.classList.add("low");
        badge.append(el("span", "value", plural(left, "seat left", "seats left")));
      }
      return badge;
    }
  }

  customElements.define(TAG, UpcomingSessions);
})();
