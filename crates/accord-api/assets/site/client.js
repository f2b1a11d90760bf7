// Accord site client (contract §5.8). Served by GET /site-v1/{projectId}/site-client with the
// project's configuration in place of the mark at the end; the page includes it with a
// synchronous <script src> before any tag it governs.
//
// Rules of this source (the server strips whole-line comments and indentation, nothing
// else): no template literals, no string spanning lines, no block comments, no eval or
// new Function (it runs under a Content-Security-Policy without 'unsafe-eval').
(function (w, d, C) {
'use strict';
if (w.concord && w.concord.config) return;
var KEY_ID = 'concord.concordId', KEY_TOKEN = 'concord.session';
var GCM = ['ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage', 'functionality_storage', 'personalization_storage'];
var SIGNALS = {advertising: ['ad_storage', 'ad_user_data', 'ad_personalization'], analytics: ['analytics_storage'], personalization: ['personalization_storage', 'functionality_storage'], strictly_necessary: ['security_storage']};
// Tracker categories (§8.2) and the privacy_setting subcategories that release them.
var CATEGORY = {marketing: 'advertising', analytics: 'analytics', functional: 'personalization'};
var STRICTNESS = {disabled: 0, discovery: 1, permissive: 2, strict: 3};
var regions = C.regions || [];
var types = C.consentTypes || [];
var aliases = C.aliases || {};
var api = C.apiBase + '/site-v1/' + C.projectId;
var me = d.currentScript;
var nonce = me && (me.nonce || me.getAttribute('nonce'));
// Preview: a tag with data-concord-preview="{regionId}" draws that Region's banner with no
// session, no events and no blocking (the console's Region preview). On a real site it only
// chooses which of the project's Regions is drawn; nothing is read or recorded.
var preview = me && me.getAttribute('data-concord-preview');
// localStorage is opened after step 1: its first use may wait for the browser.
var store;
function storage() {
  if (store === undefined) { try { store = w.localStorage; store.getItem(KEY_ID); } catch (e) { store = null; } }
  return store;
}
function load(k) { try { return storage() ? store.getItem(k) : null; } catch (e) { return null; } }
function save(k, v) { try { if (storage()) { if (v) store.setItem(k, v); else store.removeItem(k); } } catch (e) {} }
function has(list, x) { return !!list && list.indexOf(x) >= 0; }
function consentOf(r) { return (r && r.settings && r.settings.consent) || {}; }
function isDefault(r) { return has(r.regions, 'default'); }
function expand(codes) {
  var out = [];
  codes.forEach(function (c) { (aliases[c] || (c === 'default' ? [] : [c])).forEach(function (x) { if (!has(out, x)) out.push(x); }); });
  return out;
}
function emit(name, detail) { try { w.dispatchEvent(new CustomEvent(name, {detail: detail})); } catch (e) {} }

// Step 1: Google Consent Mode v2 defaults, synchronously, before any tag on the page runs.
var dl = w.dataLayer = w.dataLayer || [];
if (typeof w.gtag !== 'function') w.gtag = function () { dl.push(arguments); };
regions.forEach(function (r) {
  var c = consentOf(r);
  if (!c.gcm || c.gcm === 'disabled') return;
  var v = c.consentMode === 'implied' ? 'granted' : 'denied', o = {};
  GCM.forEach(function (k) { o[k] = v; });
  o.security_storage = 'granted';
  o.wait_for_update = 500;
  if (!isDefault(r)) o.region = expand(r.regions);
  w.gtag('consent', 'default', o);
  if (c.microsoftUET === 'enabled') {
    w.uetq = w.uetq || [];
    var u = {ad_storage: v};
    if (!isDefault(r)) u.region = o.region;
    w.uetq.push('consent', 'default', u);
  }
});

// The public object (step 7), created at once; calls made before the session exists wait.
var token = null, booted, bootDone;
booted = new Promise(function (ok) { bootDone = ok; });
var queued = {};
var widget = null;
var concord = {
  config: C, region: null, language: null, session: null, state: null, gpcHonoured: false,
  consent: {
    addConsentEvent: function (ev) { return record([].concat(ev), true); },
    getConsentState: function () { return refresh(); }
  },
  identify: function (who) {
    return ready().then(function () { return call('POST', '/identify', who); }).then(function (r) {
      if (r.status !== 200) throw failure(r);
      setToken(r.body.session);
      return refresh().then(function () { return r.body; });
    });
  },
  showBanner: function () { show('showBanner'); },
  showPrivacyCenter: function () { show('showPrivacyCenter'); },
  site: function (method, path, body) { return ready().then(function () { return call(method, path, body); }); }
};
Object.defineProperty(concord, 'widget', {
  enumerable: true,
  get: function () { return widget; },
  set: function (x) {
    widget = x;
    Object.keys(queued).forEach(function (k) { if (x && x[k]) x[k](); });
    queued = {};
  }
});
w.concord = concord;
function show(what) { if (widget && widget[what]) widget[what](); else queued[what] = 1; }
function failure(r) { var e = new Error((r.body && r.body.message) || ('HTTP ' + r.status)); e.status = r.status; e.body = r.body; return e; }
function ready() { return booted.then(function (ok) { if (!ok) throw new Error('Accord is unreachable'); }); }

// Step 2: the session, and every call of the Site API with it.
function setToken(t) { if (t) { token = t; save(KEY_TOKEN, t); } }
function request(method, path, body, auth) {
  var h = {};
  if (body !== undefined) h['content-type'] = 'application/json';
  if (auth) h['x-session'] = load(KEY_TOKEN) || token || '';
  return fetch(api + path, {method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', mode: 'cors'})
    .then(function (res) {
      setToken(res.headers.get('x-session'));
      return res.text().then(function (t) {
        var b = null;
        try { b = t ? JSON.parse(t) : null; } catch (e) { b = t; }
        return {status: res.status, body: b};
      });
    });
}
function mint() {
  var b = {url: String(location.href).slice(0, 2048)};
  var id = load(KEY_ID);
  if (id) b.concordId = id;
  if (d.referrer) b.referrer = String(d.referrer).slice(0, 2048);
  return request('POST', '/session', b, false).then(function (r) {
    if (r.status !== 201) throw failure(r);
    setToken(r.body.session);
    save(KEY_ID, r.body.concordId);
    concord.session = {concordId: r.body.concordId, gpc: !!r.body.gpc, geography: r.body.geography};
    return r.body;
  });
}
// A rejected token (expired, tampered, or from another project) is replaced once.
function call(method, path, body) {
  return request(method, path, body, true).then(function (r) {
    if (r.status !== 401) return r;
    save(KEY_TOKEN, null);
    token = null;
    return mint().then(function () { return request(method, path, body, true); });
  });
}

// Step 3: the region, the most specific code first.
function holding(code) { for (var i = 0; i < regions.length; i++) if (has(regions[i].regions, code)) return regions[i]; return null; }
function resolveRegion(geo) {
  var g = String(geo || '').toUpperCase(), cc = g.split('-')[0], r = null;
  if (g) {
    r = (g.indexOf('-') > 0 && holding(g)) || holding(cc) ||
      (has(aliases.EU, cc) && holding('EU')) || (has(aliases.EEA, cc) && holding('EEA'));
  }
  return r || holding('default') || regions[0] || null;
}
function resolveLanguage(r) {
  var l = (r && r.language) || {}, dflt = l.defaultLanguage || 'en';
  if (!l.enabled) return dflt;
  // The visitor's first language the region offers (any, when it lists none).
  var offered = l.languages || [], wanted = navigator.languages || [navigator.language || ''];
  for (var i = 0; i < wanted.length; i++) {
    var tag = String(wanted[i]).toLowerCase(), base = tag.split('-')[0];
    if (!offered.length && base) return base;
    for (var j = 0; j < offered.length; j++) {
      var o = String(offered[j]).toLowerCase();
      if (o === tag || o === base) return offered[j];
    }
  }
  return dflt;
}

// Consent as it stands: the state's privacy_setting subcategories, else the region's default.
var mode = 'disabled', express = false;
regions.forEach(function (r) {
  var c = consentOf(r);
  if ((STRICTNESS[c.blockingMode] || 0) > STRICTNESS[mode]) mode = c.blockingMode;
  if (c.consentMode !== 'implied') express = true;
});
if (preview) mode = 'disabled';
function settings() { return consentOf(concord.region); }
function latest(sub) {
  var items = (concord.state && concord.state.items) || [];
  for (var i = 0; i < items.length; i++) {
    var it = items[i];
    if (it.category === 'privacy_setting' && has(it.subcategory, sub)) return it.consentState;
  }
  return null;
}
function granted(sub) {
  var s = latest(sub);
  if (s) return s === 'accepted' || s === 'implied';
  if (sub === 'strictly_necessary') return true;
  if (sub === 'advertising' && concord.gpcHonoured) return false;
  return !express;
}
// A tag the page marked itself is held whatever the blocking mode, as if it were permissive.
function allowed(category, marked) {
  var m = STRICTNESS[mode];
  if (marked) m = Math.max(m, 2);
  if (m < 2 || category === 'strictly_necessary' || category === 'ignored') return true;
  if (category === 'unclassified') return m === 2;
  var sub = CATEGORY[category] || (SIGNALS[category] && category);
  return !!sub && granted(sub);
}

// Step 9: Consent Mode update and the dataLayer event, on load and after every change.
function publish() {
  var seen = {}, update = {}, any = false;
  ((concord.state && concord.state.items) || []).forEach(function (it) {
    if (it.category !== 'privacy_setting') return;
    var v = (it.consentState === 'accepted' || it.consentState === 'implied') ? 'granted' : 'denied';
    (it.subcategory || []).forEach(function (s) {
      if (s in seen) return;
      seen[s] = v;
      (SIGNALS[s] || []).forEach(function (k) { update[k] = v; any = true; });
    });
  });
  var c = settings();
  if (any && c.gcm && c.gcm !== 'disabled') w.gtag('consent', 'update', update);
  if (c.microsoftUET === 'enabled' && seen.advertising) { w.uetq = w.uetq || []; w.uetq.push('consent', 'update', {ad_storage: seen.advertising}); }
  dl.push({event: 'consent_updated', consent_state: seen});
}
var isReady = false;
function changed() {
  publish();
  enforce();
  if (widget && widget.update) { try { widget.update(); } catch (e) {} }
  emit('concord-change', {consentState: concord.state});
}

// Steps 4, 5, 6: state, first-visit implied events, Global Privacy Control.
function refresh() {
  return ready().then(function () { return call('GET', '/consent-state'); }).then(function (r) {
    if (r.status !== 200) throw failure(r);
    var before = JSON.stringify(concord.state);
    concord.state = r.body;
    if (isReady && JSON.stringify(r.body) !== before) changed();
    return r.body;
  });
}
function record(items, user) {
  return ready().then(function () {
    var out = [], p = Promise.resolve();
    for (var i = 0; i < items.length; i += 100) {
      (function (chunk) {
        p = p.then(function () { return call('POST', '/consent-events', {items: chunk}); }).then(function (r) {
          if (r.status !== 201) throw failure(r);
          out = out.concat(r.body.items);
        });
      })(items.slice(i, i + 100));
    }
    return p.then(function () { return refresh(); }).then(function () { return {count: out.length, items: out}; });
  });
}
function isAds(t) { return t.category === 'privacy_setting' && has(t.subcategory, 'advertising'); }
function event(t, state) { return {consentType: t.id, consentState: state, consentAction: 'implied'}; }
function gpcEvents() {
  if (!concord.gpcHonoured) return [];
  return types.filter(function (t) {
    if (!isAds(t) || latestOf(t) === 'declined') return false;
    return !t.validStates.length || has(t.validStates, 'declined');
  }).map(function (t) { return event(t, 'declined'); });
}
function latestOf(t) {
  var items = (concord.state && concord.state.items) || [];
  for (var i = 0; i < items.length; i++) if (items[i].consentType === t.id) return items[i].consentState;
  return null;
}
function firstVisitEvents() {
  var ex = settings().consentMode !== 'implied';
  return types.filter(function (t) {
    if (t.validStates.length && !has(t.validStates, 'implied')) return false;
    if (t.category === 'privacy_setting' && ex && !has(t.subcategory, 'strictly_necessary')) return false;
    return !(concord.gpcHonoured && isAds(t));
  }).map(function (t) { return event(t, 'implied'); });
}
function send(items) {
  if (!items.length) return Promise.resolve();
  return record(items).catch(function () {});
}

// Step 10: blocking by tracker category.
var trackers = (C.trackers || []).map(function (t) {
  var x = {id: t.id, name: t.name, type: t.type, category: t.category, domain: t.domain};
  if (t.pattern) x.re = new RegExp('^' + t.pattern.split('*').map(function (s) { return s.replace(/[.+?^${}()|[\]\\\/-]/g, '\\$&'); }).join('.*') + '$');
  return x;
});
function parse(u) {
  try { var x = new URL(u, location.href); return {host: x.hostname.toLowerCase(), name: x.hostname.toLowerCase() + x.pathname, href: x.href}; } catch (e) { return null; }
}
function onDomain(host, domain) { return !domain || host === domain || host.slice(-domain.length - 1) === '.' + domain; }
// By name (host + path), else by pattern, else by domain for a tracker whose name is no path.
function trackerOf(type, u) {
  var list = trackers.filter(function (t) { return t.type === type && onDomain(u.host, t.domain); });
  for (var i = 0; i < list.length; i++) if (list[i].name === u.name) return list[i];
  for (i = 0; i < list.length; i++) if (list[i].re && (list[i].re.test(u.name) || list[i].re.test(u.href))) return list[i];
  for (i = 0; i < list.length; i++) if (!list[i].re && list[i].domain && list[i].name.indexOf('/') < 0) return list[i];
  return null;
}
var TYPE_ATTR = 'data-concord-type', HELD = 'data-concord-blocked', CAT_ATTR = 'data-concord-category';
function kind(el) { var n = el.nodeName; return n === 'SCRIPT' ? 'script' : n === 'IFRAME' ? 'iframe' : null; }
function hold(el, category, src) {
  el.setAttribute(HELD, category);
  el.setAttribute(CAT_ATTR, category);
  if (src) el.setAttribute(kind(el) === 'script' ? 'data-src' : 'data-concord-src', src);
}
// Elements a page script creates: their src is checked before they are inserted.
var nativeCreate = d.createElement;
function guard(el) {
  var k = kind(el);
  if (!k || el.__concord) return el;
  el.__concord = 1;
  var proto = k === 'script' ? HTMLScriptElement.prototype : HTMLIFrameElement.prototype;
  var desc = Object.getOwnPropertyDescriptor(proto, 'src');
  var setAttr = el.setAttribute;
  var typeDesc = Object.getOwnPropertyDescriptor(HTMLScriptElement.prototype, 'type');
  function setType(v) { if (el.getAttribute(HELD)) setAttr.call(el, TYPE_ATTR, v); else setAttr.call(el, 'type', v); }
  function setSrc(v) {
    var u = parse(v), t = u && trackerOf(k, u);
    if (t && !allowed(t.category)) {
      setAttr.call(el, TYPE_ATTR, el.getAttribute('type') || '');
      if (k === 'script') setAttr.call(el, 'type', 'text/plain');
      hold(el, t.category, v);
      return;
    }
    desc.set.call(el, v);
  }
  Object.defineProperty(el, 'src', {configurable: true, get: function () { return el.getAttribute(HELD) ? (el.getAttribute('data-src') || el.getAttribute('data-concord-src')) : desc.get.call(el); }, set: setSrc});
  if (k === 'script') Object.defineProperty(el, 'type', {configurable: true, get: function () { return typeDesc.get.call(el); }, set: setType});
  el.setAttribute = function (n, v) {
    var name = String(n).toLowerCase();
    if (name === 'src') setSrc(String(v)); else if (name === 'type') setType(v); else setAttr.call(el, n, v);
  };
  return el;
}
// Elements the parser or other code inserts: held before they run or load.
function marked(el) { return !el.hasAttribute(TYPE_ATTR); }
function inspect(el) {
  var k = kind(el);
  if (!k || el.getAttribute(HELD)) return;
  var cat = el.getAttribute(CAT_ATTR);
  if (cat && (el.getAttribute('type') === 'text/plain' || el.getAttribute('data-src'))) {
    el.setAttribute(HELD, cat);
    if (isReady && allowed(cat, true)) release(el);
    return;
  }
  if (STRICTNESS[mode] < 2) return;
  var src = el.getAttribute('src'), u = src && parse(src), t = u && trackerOf(k, u);
  if (!t || allowed(t.category)) return;
  if (k === 'script') {
    el.setAttribute(TYPE_ATTR, el.getAttribute('type') || '');
    el.setAttribute('type', 'text/plain');
    el.removeAttribute('src');
    hold(el, t.category, src);
  } else {
    var c = el.cloneNode(true);
    c.removeAttribute('src');
    c.setAttribute(TYPE_ATTR, '');
    hold(c, t.category, src);
    if (el.parentNode) el.parentNode.replaceChild(c, el);
  }
}
function release(el) {
  var k = kind(el), src = el.getAttribute('data-src') || el.getAttribute('data-concord-src');
  var fresh = nativeCreate.call(d, k);
  for (var i = 0; i < el.attributes.length; i++) {
    var a = el.attributes[i].name;
    if (a !== 'type' && a !== 'src' && a !== 'data-src' && a.indexOf('data-concord-') !== 0) fresh.setAttribute(a, el.attributes[i].value);
  }
  var type = el.getAttribute(TYPE_ATTR);
  if (k === 'script') {
    if (type) fresh.setAttribute('type', type);
    if (nonce) fresh.nonce = nonce;
    fresh.async = false;
    if (!src) fresh.text = el.text;
  }
  if (src) fresh.setAttribute('src', src);
  el.parentNode.replaceChild(fresh, el);
}
function enforce() {
  var held = d.querySelectorAll('[' + HELD + ']');
  for (var i = 0; i < held.length; i++) {
    var el = held[i];
    if (el.parentNode && allowed(el.getAttribute(HELD), marked(el))) release(el);
  }
  sweepCookies();
}
function sweepCookies() {
  if (STRICTNESS[mode] < 2 || !d.cookie) return;
  d.cookie.split(';').forEach(function (pair) {
    var name = pair.split('=')[0].trim();
    var t = trackers.filter(function (x) { return x.type === 'cookie' && (x.name === name || (x.re && x.re.test(name))); })[0];
    if (!t || allowed(t.category)) return;
    var host = location.hostname.split('.'), gone = '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
    d.cookie = name + gone;
    for (var i = 0; i < host.length - 1; i++) d.cookie = name + gone + '; domain=.' + host.slice(i).join('.');
  });
}
if (STRICTNESS[mode] >= 2) d.createElement = function () { return guard(nativeCreate.apply(d, arguments)); };
new MutationObserver(function (list) {
  list.forEach(function (m) {
    m.addedNodes.forEach(function (n) {
      if (n.nodeType !== 1) return;
      inspect(n);
      if (n.querySelectorAll) Array.prototype.forEach.call(n.querySelectorAll('script,iframe'), inspect);
    });
  });
}).observe(d.documentElement, {childList: true, subtree: true});

// Real-time tracker reports (§5.7): what the page loads that the project does not know.
var reported = {}, pending = [], timer = null;
function note(type, name, domain) {
  var key = type + ' ' + name;
  if (reported[key] || pending.length >= 100) return;
  reported[key] = 1;
  var item = {name: name.slice(0, 256), type: type};
  if (domain) item.domain = domain;
  pending.push(item);
  if (!timer) timer = setTimeout(flush, 1000);
}
function flush() {
  timer = null;
  var items = pending;
  pending = [];
  if (items.length) concord.site('POST', '/trackers', {url: String(location.href).slice(0, 2048), items: items}).catch(function () {});
}
function discover() {
  var kinds = {script: 'script', iframe: 'iframe', img: 'image', link: 'link'};
  Object.keys(kinds).forEach(function (tag) {
    Array.prototype.forEach.call(d.getElementsByTagName(tag), function (el) {
      var src = el.getAttribute('data-src') || el.getAttribute('data-concord-src') || el.getAttribute(tag === 'link' ? 'href' : 'src');
      var u = src && parse(src);
      if (!u || u.host === location.hostname || !/^https?:/.test(u.href) || u.href.indexOf(C.apiBase + '/') === 0) return;
      var t = kinds[tag];
      if (!trackers.some(function (x) { return x.type === t && (x.name === u.name || (x.re && x.re.test(u.name))); })) note(t, u.name, u.host);
    });
  });
  d.cookie.split(';').forEach(function (pair) {
    var name = pair.split('=')[0].trim();
    if (name && !trackers.some(function (x) { return x.type === 'cookie' && (x.name === name || (x.re && x.re.test(name))); })) note('cookie', name);
  });
  if (storage()) for (var i = 0; i < store.length; i++) {
    var k = store.key(i);
    if (k && k.indexOf('concord.') !== 0 && !trackers.some(function (x) { return x.type === 'local_storage' && x.name === k; })) note('local_storage', k);
  }
}

// Step 11: the widget and the region's custom script. A nonce on the site client's tag is
// passed on, so a nonce-based Content-Security-Policy allows both.
function inject(src, text) {
  var s = nativeCreate.call(d, 'script');
  if (nonce) s.nonce = nonce;
  if (src) { s.src = src; s.async = true; } else s.text = text;
  (d.head || d.documentElement).appendChild(s);
}

// The start: session, region, state, first visit, GPC, ready, updates.
function start(session) {
  var r = resolveRegion(session && session.geography);
  concord.region = r;
  concord.language = resolveLanguage(r);
  var c = consentOf(r);
  mode = c.blockingMode || 'disabled';
  express = c.consentMode !== 'implied';
  concord.gpcHonoured = !!(session && session.gpc && c.gpc === true);
  inject(api + '/widget');
  if (r && r.customScript) { try { inject(null, r.customScript); } catch (e) {} }
}
if (preview) {
  concord.region = regions.filter(function (r) { return r.id === preview; })[0] || resolveRegion(null);
  concord.language = resolveLanguage(concord.region);
  concord.state = {count: 0, items: []};
  bootDone(false);
  inject(api + '/widget');
  emit('concord-ready', {consentState: concord.state});
} else mint().then(function (s) {
  start(s);
  bootDone(true);
  return refresh();
}).then(function (state) {
  var first = !state.count, gpc = gpcEvents();
  var delay = Math.max(0, Number(settings().impliedConsentDelay) || 0) * 1000;
  var now = gpc.concat(first && !delay ? firstVisitEvents() : []);
  return send(now).then(function () {
    isReady = true;
    publish();
    enforce();
    emit('concord-ready', {concordId: concord.session.concordId, consentState: concord.state});
    if (first && delay) setTimeout(function () { if (!concord.state.count) send(firstVisitEvents()); }, delay);
    if (C.realTimeScan) {
      var later = null;
      discover();
      new MutationObserver(function () { if (!later) later = setTimeout(function () { later = null; discover(); }, 500); }).observe(d.documentElement, {childList: true, subtree: true});
    }
  });
}).catch(function () {
  // Accord is unreachable: the page goes on with the defaults (denied where express) and
  // every tracker held back stays so.
  if (!concord.region) { concord.region = resolveRegion(null); concord.language = resolveLanguage(concord.region); }
  bootDone(false);
});
})(window, document, __ACCORD_CONFIG__);
