/*! touchpoints.js 1.0.0: the Touchpoints browser tracker. Snippet, attributes, API: docs/tracker.md */
((run) => { try { run(); } catch (e) { /* never throw into the host page */ } })(() => {
  "use strict";
  const VERSION = "1.0.0";
  const FLUSH_MS = 1000, FLUSH_AT = 20; // a batch leaves after 1 s, or at 20 messages
  const MAX_BODY = 60000; // bytes per request, under the 64 KB sendBeacon/keepalive budget
  const MAX_QUEUE = 1000, MAX_TRIES = 3, YEAR = 365 * 86400;
  const UTM = { utm_source: "source", utm_medium: "medium", utm_campaign: "name", utm_term: "term", utm_content: "content" };
  const w = window, d = document, nav = navigator, loc = location;
  const stub = w.touchpoints;
  if (stub && stub.__touchpoints) return; // loaded twice: the first copy stays

  // Never throw into the host page: every entry point runs through guard().
  const guard = (fn) => function (...args) {
    try { return fn.apply(this, args); } catch (e) { return undefined; }
  };

  // ---- configuration: our own <script> tag's data- attributes ----
  const isOurs = (s) => /\/tp\.js([?#]|$)/.test(s.src || "");
  const script = (d.currentScript && isOurs(d.currentScript)) ? d.currentScript
    : [...d.querySelectorAll("script[src]")].reverse().find(isOurs);
  const attr = (name, dflt) => (script && script.getAttribute("data-" + name)) || dflt;
  const writeKey = attr("write-key", "");
  const origin = attr("api-host", script ? new URL(script.src, loc.href).origin : loc.origin);
  const endpoint = origin.replace(/\/+$/, "") + "/v1/batch";
  const optIn = attr("consent", "") === "opt-in";
  const autoPage = attr("auto-page", "") !== "false";
  const heatmap = attr("heatmap", "") !== "false";
  const cookieDomain = attr("cookie-domain", "");
  const dntBlocked = attr("dnt", "") === "respect" &&
    (nav.doNotTrack === "1" || w.doNotTrack === "1" || nav.globalPrivacyControl === true);

  // ---- storage: first-party cookies, the ids mirrored in localStorage ----
  const getCookie = (name) => {
    const hit = d.cookie.split("; ").find((c) => c.startsWith(name + "="));
    try { return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null; } catch (e) { return null; }
  };
  const setCookie = (name, value, maxAge) => {
    d.cookie = `${name}=${encodeURIComponent(value)}; path=/; max-age=${maxAge}; SameSite=Lax` +
      (cookieDomain ? "; domain=" + cookieDomain : "") + (loc.protocol === "https:" ? "; Secure" : "");
  };
  const storage = (kind, op, key, value) => { // storage can be disabled: the cookie is enough then
    try { return w[kind][op](key, value); } catch (e) { return null; }
  };
  const remember = (name, value) => { setCookie(name, value, YEAR); storage("localStorage", "setItem", name, value); };
  const forget = (name) => { setCookie(name, "", 0); storage("localStorage", "removeItem", name); };
  const recall = (name) => getCookie(name) || storage("localStorage", "getItem", name);

  const uuid = () => {
    const c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const parse = (json) => { try { return JSON.parse(json); } catch (e) { return null; } };

  // ---- state ----
  let preferences = parse(getCookie("tp_consent")); // the consent choice, {analytics: true, ...} or null
  let anonymousId = recall("tp_aid"), userId = recall("tp_uid");
  let referrer = d.referrer, lastUrl = loc.href, viewUrl = null;
  let queue = [], timer = null, maxDepth = 0, crossed = new Set();
  // The landing page's utm_* parameters, kept for the rest of the visit (the tab's sessionStorage).
  const params = new URLSearchParams(loc.search);
  let campaign = Object.keys(UTM).reduce((c, k) => (params.get(k) ? { ...c, [UTM[k]]: params.get(k) } : c), null) ||
    parse(storage("sessionStorage", "getItem", "tp_campaign"));

  const allowed = () => !dntBlocked &&
    (optIn ? !!preferences && preferences.analytics === true : !(preferences && preferences.analytics === false));

  // ---- messages ----
  const pageInfo = () => ({ path: loc.pathname, referrer, search: loc.search, title: d.title, url: loc.href });
  const context = () => {
    const ctx = {
      library: { name: "touchpoints.js", version: VERSION },
      page: pageInfo(),
      userAgent: nav.userAgent,
      locale: nav.language,
      screen: { width: w.screen.width, height: w.screen.height },
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    };
    if (campaign) ctx.campaign = campaign;
    if (preferences) ctx.consent = { categoryPreferences: preferences };
    return ctx;
  };

  const send = (type, fields) => {
    if (!allowed()) return; // dropped, not queued: nothing is kept without consent
    anonymousId = anonymousId || uuid();
    remember("tp_aid", anonymousId);
    if (userId) remember("tp_uid", userId);
    if (campaign) storage("sessionStorage", "setItem", "tp_campaign", JSON.stringify(campaign));
    const msg = { type, messageId: uuid(), timestamp: new Date().toISOString(), anonymousId };
    if (userId) msg.userId = userId;
    Object.keys(fields).forEach((k) => { if (fields[k] !== undefined) msg[k] = fields[k]; });
    msg.context = context();
    queue = queue.concat({ json: JSON.stringify(msg), tries: 0 }).slice(-MAX_QUEUE);
    if (queue.length >= FLUSH_AT) flush(false);
    else if (!timer) timer = setTimeout(() => flush(false), FLUSH_MS);
  };

  // ---- delivery: batches of at most MAX_BODY bytes, as text/plain (a CORS "simple request": no
  // preflight, no CORS set-up on the collector), with fetch, or with sendBeacon when the page goes ----
  const size = (s) => new Blob([s]).size;
  const bodies = (items) => {
    const out = [];
    let group = [], bytes = 0;
    const close = () => {
      if (!group.length) return;
      const body = `{"batch":[${group.map((it) => it.json).join(",")}],"sentAt":"${new Date().toISOString()}",` +
        `"writeKey":${JSON.stringify(writeKey)}}`;
      out.push({ items: group, body });
      group = []; bytes = 0;
    };
    items.forEach((it) => {
      const n = size(it.json) + 1;
      if (bytes + n > MAX_BODY - 200) close();
      group.push(it); bytes += n;
    });
    close();
    return out;
  };

  let inflight = 0; // bytes of keepalive requests in flight: browsers allow 64 KB in all
  const post = (chunk) => {
    const n = size(chunk.body), keepalive = inflight + n <= MAX_BODY;
    if (keepalive) inflight += n;
    return fetch(endpoint, {
      method: "POST", body: chunk.body, headers: { "Content-Type": "text/plain" },
      keepalive, mode: "no-cors", credentials: "omit",
    }).catch(() => { // not delivered: again later (the collector drops duplicates by messageId)
      const again = chunk.items.filter((it) => ++it.tries < MAX_TRIES);
      queue = again.concat(queue).slice(0, MAX_QUEUE);
      if (queue.length && !timer) timer = setTimeout(() => flush(false), 4 * FLUSH_MS);
    }).then(() => { if (keepalive) inflight -= n; });
  };

  const flush = (beacon) => {
    clearTimeout(timer);
    timer = null;
    const chunks = bodies(queue);
    queue = [];
    return Promise.all(chunks.map((chunk) => {
      if (beacon && nav.sendBeacon && nav.sendBeacon(endpoint, new Blob([chunk.body], { type: "text/plain" }))) return null;
      return post(chunk);
    })).then(() => undefined);
  };

  // ---- automatic page views: on load, after consent, and on single-page-app navigation ----
  const here = () => loc.href.split("#")[0]; // a change of #fragment alone is not a new view
  const autoPageView = () => {
    if (!autoPage || !allowed() || viewUrl === here()) return;
    viewUrl = here();
    api.page();
  };
  const navigated = guard(() => {
    if (here() === lastUrl.split("#")[0]) return;
    referrer = lastUrl; // the previous view refers to the next
    lastUrl = loc.href;
    maxDepth = 0;
    crossed = new Set();
    autoPageView();
  });
  const pushState = history.pushState;
  history.pushState = function (...args) {
    const result = pushState.apply(this, args);
    setTimeout(navigated, 0); // once the app has rendered (and retitled) the new view
    return result;
  };
  w.addEventListener("popstate", navigated);

  // ---- heatmap signals: clicks, scroll depth ----
  const pageSize = () => {
    const r = d.documentElement, b = d.body || r;
    return { width: Math.max(r.scrollWidth, b.scrollWidth), height: Math.max(r.scrollHeight, b.scrollHeight) };
  };
  const css = (s) => CSS.escape(s);
  const selector = (el) => { // a short CSS path: up to 5 steps, up to the nearest id
    const steps = [];
    for (let n = el; n && n.nodeType === 1 && steps.length < 5; n = n.parentElement) {
      if (n.id) { steps.unshift("#" + css(n.id)); break; }
      const tag = n.tagName.toLowerCase();
      if (tag === "body" || tag === "html") { steps.unshift(tag); break; }
      let step = tag + [...n.classList].slice(0, 2).map((c) => "." + css(c)).join("");
      const same = n.parentElement ? [...n.parentElement.children].filter((s) => s.tagName === n.tagName) : [];
      if (same.length > 1) step += `:nth-of-type(${same.indexOf(n) + 1})`;
      steps.unshift(step);
    }
    return steps.join(" > ");
  };

  d.addEventListener("click", guard((e) => { // capture phase: seen even when the page stops the click
    const target = e.target instanceof Element ? e.target : e.target && e.target.parentElement;
    if (!heatmap || !target || !allowed() || target.closest("[data-tp-ignore]")) return; // data-tp-ignore: nothing at all
    const control = target.closest("a,button,[role=button],input,select,textarea,label,summary");
    const el = control || target;
    // Text only of controls (a button's label, a link's words): never of form fields or anything
    // holding one, of editable content, or of plain page content (an address in a table cell).
    const private_ = !control || /^(INPUT|TEXTAREA|SELECT|OPTION)$/.test(el.tagName) || el.isContentEditable ||
      el.querySelector("input,textarea,select");
    const link = el.closest("a[href]");
    // mailto: and tel: links carry the address itself: only the scheme is kept.
    const href = link ? (/^(mailto|tel|sms):/i.test(link.href) ? link.href.split(":")[0] + ":" : link.href) : null;
    const page = pageSize();
    api.track("Element Clicked", {
      tag: el.tagName.toLowerCase(),
      id: el.id || null,
      classes: [...el.classList],
      text: private_ ? "" : (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 80),
      href,
      selector: selector(el),
      x: Math.round(e.pageX), // page coordinates, not the viewport's
      y: Math.round(e.pageY),
      page_width: page.width,
      page_height: page.height,
      viewport_width: w.innerWidth,
      viewport_height: w.innerHeight,
    });
  }), true);

  let scrollTimer = null;
  w.addEventListener("scroll", () => {
    if (!heatmap || scrollTimer || !allowed()) return;
    scrollTimer = setTimeout(guard(() => { // at most one measure per 100 ms
      scrollTimer = null;
      const height = pageSize().height;
      const depth = Math.min(100, Math.round(((w.scrollY + w.innerHeight) / Math.max(height, 1)) * 100));
      maxDepth = Math.max(maxDepth, depth);
      [25, 50, 75, 100].forEach((t) => { // one event per threshold crossed, each once per page view
        if (maxDepth < t || crossed.has(t)) return;
        crossed.add(t);
        api.track("Page Scrolled", { depth_percent: maxDepth, threshold: t, page_height: height });
      });
    }), 100);
  }, { passive: true });

  // ---- the page going away (closed, navigated, tab hidden): sendBeacon what is queued ----
  w.addEventListener("pagehide", guard(() => flush(true)));
  d.addEventListener("visibilitychange", guard(() => { if (d.visibilityState === "hidden") flush(true); }));

  // ---- the public API ----
  const api = {
    __touchpoints: true,
    VERSION,
    // page(), page(name), page(name, properties), page(category, name, properties), page(properties)
    page: guard((category, name, properties) => {
      if (category && typeof category === "object") [properties, category, name] = [category, undefined, undefined];
      else if (name && typeof name === "object") [properties, name, category] = [name, category, undefined];
      else if (name === undefined) [name, category] = [category, undefined];
      const props = { ...pageInfo(), ...(properties || {}) };
      if (name) props.name = name;
      if (category) props.category = category;
      send("page", { name: name || undefined, category: category || undefined, properties: props });
    }),
    track: guard((event, properties) => {
      if (typeof event === "string" && event) send("track", { event, properties: properties || {} });
    }),
    // identify(userId, traits) or identify(traits): the userId is kept and sent with every later message.
    identify: guard((id, traits) => {
      if (id && typeof id === "object") [traits, id] = [id, undefined];
      if (!allowed()) return;
      if (id !== undefined && id !== null && id !== "") userId = String(id);
      send("identify", { traits: traits || {} });
    }),
    // consent(true | false | {analytics: bool, <any other category>: bool})
    consent: guard((choice) => {
      if (dntBlocked) return;
      const prefs = {};
      if (typeof choice === "boolean") prefs.analytics = choice;
      else if (choice && typeof choice === "object") {
        Object.keys(choice).forEach((k) => { if (typeof choice[k] === "boolean") prefs[k] = choice[k]; });
      } else return;
      const known = anonymousId || userId;
      preferences = prefs;
      if (allowed()) {
        setCookie("tp_consent", JSON.stringify(prefs), YEAR);
        send("track", { event: "Consent Preference Updated", properties: {} }); // the ledger's evidence
        autoPageView(); // the view that could not be counted before
        return;
      }
      // Refused: stop, drop the queue, delete the ids; opt-out mode remembers the refusal. A visitor the
      // server knows gets one last message, the refusal itself (no page, no device), so the server's
      // consent ledger records it: without it, the server would still hold their earlier grant.
      clearTimeout(timer);
      timer = null;
      queue = [];
      if (known) {
        const msg = { type: "track", event: "Consent Preference Updated", messageId: uuid(),
          timestamp: new Date().toISOString(), properties: {},
          context: { library: { name: "touchpoints.js", version: VERSION }, consent: { categoryPreferences: prefs } } };
        if (anonymousId) msg.anonymousId = anonymousId;
        if (userId) msg.userId = userId;
        queue = [{ json: JSON.stringify(msg), tries: 0 }];
        flush(true);
      }
      anonymousId = userId = null;
      forget("tp_aid");
      forget("tp_uid");
      storage("sessionStorage", "removeItem", "tp_campaign");
      setCookie("tp_consent", JSON.stringify(prefs), optIn ? 0 : YEAR);
    }),
    // Forgets the visitor: a new anonymousId from the next message on (what is queued still goes).
    reset: guard(() => {
      anonymousId = userId = null;
      forget("tp_aid");
      forget("tp_uid");
    }),
    flush: guard(() => flush(false)), // resolves once the requests are done
    anonymousId: () => anonymousId,
    userId: () => userId,
  };

  // ---- start: replace the stub with the API, replay the calls it queued, count this view ----
  guard(() => {
    w.touchpoints = api;
    (Array.isArray(stub) ? stub.slice() : []).forEach((call) => {
      if (call && typeof api[call[0]] === "function") api[call[0]](...call.slice(1));
    });
    autoPageView();
  })();
});
