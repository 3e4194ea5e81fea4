// Vigia's operator console: log in (Admin), see the cameras of your cities with their live
// status (Cidades, from Vigia's stream.health_check), watch them live (Vigia's WebRTC over WHEP,
// falling back to LL-HLS through hls.js, loaded from Vigia, when WHEP is off or fails) and play
// their recordings (Vigia's playback server: /list, /get).
//
// Cidades gets the Admin access token as `Authorization: Bearer`; so does Vigia's WHEP. Vigia's
// HLS and playback requests carry it as ?jwt= (hls.js's xhrSetup re-opens each request with it),
// so the same page works with Vigia's authMethod http (Admin decides and audits) or jwt (with
// authJWTInHTTPQuery). `?live=hls` skips WebRTC (a network that blocks UDP). Names and other data reach the page only through
// textContent and attributes, never as markup.
(() => {
  'use strict';

  // ---- Labels: one dictionary per language; pt-BR always, unless `?lang=en` asks for another.
  const MESSAGES = {
    'pt-BR': {
      title: 'Vigia — Central de monitoramento',
      loginTitle: 'Entrar na central', email: 'E-mail', password: 'Senha', signIn: 'Entrar',
      signOut: 'Sair', badLogin: 'E-mail ou senha incorretos.',
      tooMany: 'Muitas tentativas; tente de novo em {s} s.',
      failed: 'Não foi possível concluir: {reason}', sessionExpired: 'Sessão expirada; entre de novo.',
      cities: 'Cidades', noCities: 'Nenhuma cidade liberada para este usuário.',
      camera: 'Câmera', location: 'Local', status: 'Situação', recordings: 'Gravações',
      camerasOf: 'Câmeras de {city} ({uf})', noCameras: 'Nenhuma câmera nesta cidade.',
      summary: '{online} de {total} câmeras online · atualizado às {time}',
      moreCameras: 'O mosaico mostra {shown} de {total} câmeras.',
      status_online: 'online', status_degraded: 'instável', status_offline: 'offline',
      status_unknown: 'sem notícia',
      role_admin: 'administrador', role_operator: 'operador', role_viewer: 'visualizador',
      superadmin: 'superadministrador',
      liveWaiting: 'Conectando…', liveRetry: 'Vídeo indisponível; tentando de novo…',
      show: 'Mostrar', range1: 'última hora', range6: 'últimas 6 horas', range24: 'últimas 24 horas',
      duration: 'Duração', refresh: 'Atualizar', close: 'Fechar',
      recordingsOf: 'Gravações de {name}', spans: '{n} trecho(s) gravado(s) nas últimas 24 horas.',
      nothingRecorded: 'Nada gravado nas últimas 24 horas.', nothingAt: 'Nada gravado em {when}.',
      playing: 'Reproduzindo a partir de {when} por {s} s.', cannotPlay: 'O vídeo não pode ser reproduzido: {reason}',
    },
    en: {
      title: 'Vigia — Monitoring console',
      loginTitle: 'Sign in to the console', email: 'E-mail', password: 'Password', signIn: 'Sign in',
      signOut: 'Sign out', badLogin: 'Wrong e-mail or password.',
      tooMany: 'Too many attempts; try again in {s} s.',
      failed: 'Could not complete: {reason}', sessionExpired: 'Session expired; sign in again.',
      cities: 'Cities', noCities: 'No city is open to this user.',
      camera: 'Camera', location: 'Location', status: 'Status', recordings: 'Recordings',
      camerasOf: 'Cameras of {city} ({uf})', noCameras: 'No camera in this city.',
      summary: '{online} of {total} cameras online · updated at {time}',
      moreCameras: 'The mosaic shows {shown} of {total} cameras.',
      status_online: 'online', status_degraded: 'degraded', status_offline: 'offline',
      status_unknown: 'no news',
      role_admin: 'administrator', role_operator: 'operator', role_viewer: 'viewer',
      superadmin: 'superadministrator',
      liveWaiting: 'Connecting…', liveRetry: 'Video unavailable; retrying…',
      show: 'Show', range1: 'last hour', range6: 'last 6 hours', range24: 'last 24 hours',
      duration: 'Duration', refresh: 'Refresh', close: 'Close',
      recordingsOf: 'Recordings of {name}', spans: '{n} recorded span(s) in the last 24 hours.',
      nothingRecorded: 'Nothing recorded in the last 24 hours.', nothingAt: 'Nothing recorded at {when}.',
      playing: 'Playing from {when} for {s} s.', cannotPlay: 'The video cannot play: {reason}',
    },
  };
  const LANG = pickLanguage();
  const DAY_MS = 24 * 3600 * 1000;
  const POLL_MS = 5000;
  const MAX_TILES = 9;
  const PAGE = 500;
  const WHEP_WAIT_MS = 8000;

  /** pt-BR, the prefeituras' language, unless the URL asks for another present (`?lang=en`). */
  function pickLanguage() {
    const asked = new URLSearchParams(location.search).get('lang');
    return asked && MESSAGES[asked] ? asked : 'pt-BR';
  }

  /** The label `key` in the page's language, `{name}` replaced from `vars`. */
  function t(key, vars) {
    const text = MESSAGES[LANG][key] ?? MESSAGES['pt-BR'][key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : ''));
  }

  const $ = (id) => document.getElementById(id);
  /** An element with a class and text (never markup). */
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const timeOf = (ms) => new Date(ms).toLocaleTimeString(LANG);
  const dateTimeOf = (ms) => new Date(ms).toLocaleString(LANG);

  // ---- Where the other services are: `:port` means this page's host on that port.
  let links = null;
  function serviceUrl(link) {
    return link.startsWith(':') ? `${location.protocol}//${location.hostname}${link}` : link;
  }

  // ---- Session: tokens from Admin (same origin), refreshed before they expire.
  const session = { access: null, refresh: null, claims: null, timer: null };
  const STORE = 'vigia.console.session';

  function claimsOf(token) {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function setTokens(pair) {
    session.access = pair.accessToken;
    session.refresh = pair.refreshToken;
    session.claims = claimsOf(pair.accessToken);
    sessionStorage.setItem(STORE, JSON.stringify({ refreshToken: pair.refreshToken }));
    clearTimeout(session.timer);
    const left = session.claims.exp * 1000 - Date.now();
    session.timer = setTimeout(refresh, Math.max(2000, left * 0.75));
  }

  async function postJSON(path, body, bearer) {
    const headers = { 'content-type': 'application/json' };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    return fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  }

  async function refresh() {
    try {
      const res = await postJSON('/v1/auth/refresh', { refreshToken: session.refresh });
      if (!res.ok) throw new Error(String(res.status));
      setTokens(await res.json());
    } catch (e) {
      signedOut(t('sessionExpired'));
    }
  }

  async function login(event) {
    event.preventDefault();
    $('login-error').textContent = '';
    const res = await postJSON('/v1/auth/login', { email: $('email').value, password: $('password').value })
      .catch((e) => ({ ok: false, status: 0, error: e }));
    if (res.ok) {
      setTokens(await res.json());
      $('password').value = '';
      return showApp();
    }
    if (res.status === 401) $('login-error').textContent = t('badLogin');
    else if (res.status === 429) $('login-error').textContent = t('tooMany', { s: res.headers.get('retry-after') || '60' });
    else $('login-error').textContent = t('failed', { reason: res.error || res.status });
  }

  async function logout() {
    const refreshToken = session.refresh;
    await postJSON('/v1/auth/logout', { refreshToken }, session.access).catch(() => {});
    signedOut('');
  }

  function signedOut(message) {
    clearTimeout(session.timer);
    Object.assign(session, { access: null, refresh: null, claims: null });
    sessionStorage.removeItem(STORE);
    closeRecordings();
    view.clear();
    $('app').hidden = true;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message;
  }

  /** `url` with the access token as `?jwt=` (how Vigia's HTTP listeners take it). */
  function withToken(url) {
    const u = new URL(url, location.href);
    u.searchParams.set('jwt', session.access);
    return u.toString();
  }

  // ---- Cidades: the user's cities and their cameras.
  async function getJSON(url) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${session.access}` } });
    if (!res.ok) throw new Error(`${res.status} ${url}`);
    return res.json();
  }

  /** Every item of a paged Cidades list. */
  async function getAll(path, params) {
    const items = [];
    for (let page = 1; ; page += 1) {
      const q = new URLSearchParams({ ...params, page: String(page), perPage: String(PAGE) });
      const list = await getJSON(`${serviceUrl(links.cidades)}${path}?${q}`);
      items.push(...list.items);
      if (items.length >= list.total || list.items.length === 0) return items;
    }
  }

  /** The cities of the user's token (Cidades answers only those). */
  function loadCities() {
    return getAll('/v1/cities', {});
  }

  // ---- The page once signed in.
  const view = {
    cities: [], city: null, cameras: [], poll: null, tiles: new Map(),
    clear() {
      clearInterval(this.poll);
      for (const id of [...this.tiles.keys()]) removeTile(id);
      Object.assign(this, { cities: [], city: null, cameras: [], poll: null });
      $('cities').textContent = '';
      $('cameras').tBodies[0].textContent = '';
    },
  };

  async function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    const c = session.claims;
    const role = c.superadmin ? t('superadmin') : [...new Set(Object.values(c.cities || {}))].map((r) => t(`role_${r}`)).join(', ');
    $('who').textContent = `${c.email} · ${role}`;
    try {
      view.cities = (await loadCities()).sort((a, b) => a.name.localeCompare(b.name, LANG));
    } catch (e) {
      $('app-error').textContent = t('failed', { reason: e.message });
      return;
    }
    drawCities();
    if (view.cities.length === 0) $('city-title').textContent = t('noCities');
    else selectCity(view.cities[0]);
  }

  function drawCities() {
    const list = $('cities');
    list.textContent = '';
    for (const city of view.cities) {
      const b = el('button', '', `${city.name} — ${city.uf}`);
      b.type = 'button';
      b.dataset.city = city.id;
      b.onclick = () => selectCity(city);
      const li = el('li');
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  function selectCity(city) {
    view.city = city;
    for (const b of $('cities').querySelectorAll('button')) b.classList.toggle('selected', b.dataset.city === city.id);
    $('city-title').textContent = t('camerasOf', { city: city.name, uf: city.uf });
    for (const id of [...view.tiles.keys()]) removeTile(id);
    clearInterval(view.poll);
    pollCameras();
    view.poll = setInterval(pollCameras, POLL_MS);
  }

  async function pollCameras() {
    const city = view.city;
    let cameras;
    try {
      cameras = await getAll('/v1/cameras', { cityId: city.id });
    } catch (e) {
      $('app-error').textContent = t('failed', { reason: e.message });
      return;
    }
    if (view.city !== city || !session.access) return;
    $('app-error').textContent = '';
    view.cameras = cameras.sort((a, b) => a.name.localeCompare(b.name, LANG));
    drawCameras();
    drawMosaic();
  }

  function statusBadge(status) {
    const s = ['online', 'degraded', 'offline'].includes(status) ? status : 'unknown';
    const badge = el('span', 'status', t(`status_${s}`));
    badge.dataset.status = s;
    return badge;
  }

  function drawCameras() {
    const body = $('cameras').tBodies[0];
    body.textContent = '';
    for (const cam of view.cameras) {
      const row = el('tr');
      row.dataset.camera = cam.id;
      row.appendChild(el('td', 'name', cam.name));
      row.appendChild(el('td', 'location', cam.location || ''));
      const status = el('td');
      status.appendChild(statusBadge(cam.status));
      if (cam.statusReason) status.title = cam.statusReason;
      row.appendChild(status);
      const actions = el('td');
      const rec = el('button', 'open-recordings', t('recordings'));
      rec.type = 'button';
      rec.onclick = () => openRecordings(cam);
      actions.appendChild(rec);
      row.appendChild(actions);
      body.appendChild(row);
    }
    const online = view.cameras.filter((c) => c.status === 'online').length;
    $('city-summary').textContent = view.cameras.length === 0 ? t('noCameras')
      : t('summary', { online, total: view.cameras.length, time: timeOf(Date.now()) })
        + (view.cameras.length > MAX_TILES ? ` ${t('moreCameras', { shown: MAX_TILES, total: view.cameras.length })}` : '');
  }

  // ---- Mosaic: one live view per camera (the first MAX_TILES of the city), WebRTC (WHEP)
  // first, LL-HLS when WHEP is off, refused or not playing within WHEP_WAIT_MS.
  let hlsReady = null;

  /** Loads hls.js from Vigia once (any path the user may read serves it). */
  function loadHls(path) {
    if (!hlsReady) {
      hlsReady = new Promise((done, reject) => {
        const s = document.createElement('script');
        s.src = withToken(`${serviceUrl(links.hls)}/${encodeURIComponent(path)}/hls.min.js`);
        s.onload = () => done(window.Hls);
        s.onerror = () => { hlsReady = null; reject(new Error('hls.js')); };
        document.head.appendChild(s);
      });
    }
    return hlsReady;
  }

  function drawMosaic() {
    const shown = view.cameras.slice(0, MAX_TILES);
    const keep = new Set(shown.map((c) => c.id));
    for (const id of [...view.tiles.keys()]) if (!keep.has(id)) removeTile(id);
    for (const cam of shown) {
      const tile = view.tiles.get(cam.id) || addTile(cam);
      tile.name.textContent = cam.name;
      const badge = statusBadge(cam.status);
      tile.status.replaceWith(badge);
      tile.status = badge;
    }
    // Keep the mosaic in the list's order.
    for (const cam of shown) $('mosaic').appendChild(view.tiles.get(cam.id).figure);
  }

  function addTile(cam) {
    const figure = el('figure', 'tile');
    figure.dataset.camera = cam.id;
    const video = el('video');
    Object.assign(video, { muted: true, autoplay: true, playsInline: true });
    const notice = el('div', 'notice', t('liveWaiting'));
    const caption = el('figcaption');
    const name = el('span', 'name');
    const status = el('span', 'status');
    caption.append(name, status);
    figure.append(video, notice, caption);
    const tile = {
      figure, video, notice, name, status, hls: null, pc: null, whep: null, kind: null, retry: null, errors: [],
    };
    view.tiles.set(cam.id, tile);
    $('mosaic').appendChild(figure);
    startLive(cam.id, tile);
    return tile;
  }

  function removeTile(id) {
    const tile = view.tiles.get(id);
    if (!tile) return;
    clearTimeout(tile.retry);
    stopLive(tile);
    tile.figure.remove();
    view.tiles.delete(id);
  }

  /** Closes the tile's WebRTC session or hls.js player. */
  function stopLive(tile) {
    if (tile.hls) tile.hls.destroy();
    if (tile.pc) tile.pc.close();
    if (tile.whep) fetch(tile.whep, { method: 'DELETE', headers: { authorization: `Bearer ${session.access}` } }).catch(() => {});
    Object.assign(tile, { hls: null, pc: null, whep: null, kind: null });
    delete tile.figure.dataset.live;
    tile.video.srcObject = null;
  }

  /** Shows the retry notice and starts again in 3 s. */
  function retryLive(path, tile) {
    stopLive(tile);
    tile.notice.textContent = t('liveRetry');
    clearTimeout(tile.retry);
    tile.retry = setTimeout(() => startLive(path, tile), 3000);
  }

  async function startLive(path, tile) {
    const webrtc = links.webrtc && new URLSearchParams(location.search).get('live') !== 'hls';
    if (webrtc && await startWhep(path, tile)) return;
    startHls(path, tile);
  }

  /** The live view over WHEP; false (and nothing left open) when it cannot play. */
  async function startWhep(path, tile) {
    const pc = new RTCPeerConnection();
    tile.pc = pc;
    tile.kind = 'webrtc';
    try {
      const stream = new MediaStream();
      pc.ontrack = (e) => stream.addTrack(e.track);
      const video = pc.addTransceiver('video', { direction: 'recvonly' });
      const h264 = (RTCRtpReceiver.getCapabilities('video')?.codecs || []).filter((c) => c.mimeType === 'video/H264');
      if (h264.length) video.setCodecPreferences(h264);
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const url = `${serviceUrl(links.webrtc)}/${encodeURIComponent(path)}/whep`;
      const res = await fetch(url, {
        method: 'POST', body: pc.localDescription.sdp,
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${session.access}` },
      });
      if (res.status !== 201) throw new Error(`WHEP ${res.status}`);
      const resource = res.headers.get('location');
      if (resource) tile.whep = new URL(resource, url).toString();
      const answer = await res.text();
      // Chromium never uses loopback candidates: fall back at once rather than after the wait.
      const candidates = answer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
      if (candidates.length && candidates.every((l) => / 127\.\d+\.\d+\.\d+ | ::1 /.test(l))) {
        throw new Error('only loopback candidates');
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      tile.video.srcObject = stream;
      tile.video.play().catch(() => {});
      await playing(tile.video, WHEP_WAIT_MS);
    } catch (e) {
      tile.errors.push({ details: `webrtc: ${e.message}`, fatal: true });
      stopLive(tile);
      return false;
    }
    tile.notice.textContent = '';
    tile.figure.dataset.live = 'webrtc';
    pc.onconnectionstatechange = () => {
      if (tile.pc === pc && ['failed', 'closed'].includes(pc.connectionState)) retryLive(path, tile);
    };
    return true;
  }

  /** Resolves once `pc` has its candidates (at most 2 s: host candidates come at once). */
  function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((done) => {
      const timer = setTimeout(done, 2000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(timer); done(); }
      });
    });
  }

  /** Resolves when `video` plays frames, rejects after `ms`. */
  function playing(video, ms) {
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error('no picture')), ms);
      const check = () => {
        if (video.currentTime > 0 && !video.paused) { clearTimeout(timer); done(); } else setTimeout(check, 100);
      };
      check();
    });
  }

  async function startHls(path, tile) {
    let Hls;
    try {
      Hls = await loadHls(path);
    } catch (e) {
      retryLive(path, tile);
      return;
    }
    if (view.tiles.get(path) !== tile) return;
    const hls = new Hls({
      lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 10,
      // Re-opened with the current token: refreshed tokens apply to the next request.
      xhrSetup: (xhr, url) => xhr.open('GET', withToken(url), true),
    });
    tile.hls = hls;
    tile.kind = 'hls';
    tile.figure.dataset.live = 'hls';
    hls.on(Hls.Events.ERROR, (_, data) => {
      tile.errors.push({ details: data.details, fatal: data.fatal });
      if (data.fatal) retryLive(path, tile);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => tile.video.play().catch(() => {}));
    tile.video.addEventListener('playing', () => { tile.notice.textContent = ''; }, { once: true });
    hls.loadSource(`${serviceUrl(links.hls)}/${encodeURIComponent(path)}/index.m3u8`);
    hls.attachMedia(tile.video);
  }

  // ---- Recordings: the spans of the last 24 h from /list, a click plays /get from there.
  const rec = { camera: null, spans: [], from: 0, to: 0, playingFrom: null };

  function openRecordings(cam) {
    rec.camera = cam;
    $('rec-title').textContent = t('recordingsOf', { name: cam.name });
    $('recordings').hidden = false;
    loadSpans();
  }

  function closeRecordings() {
    rec.camera = null;
    const video = $('playback');
    video.removeAttribute('src');
    video.load();
    $('recordings').hidden = true;
  }

  function say(text, isError) {
    $('rec-status').textContent = text;
    $('rec-status').className = isError ? 'error' : '';
  }

  async function loadSpans() {
    const cam = rec.camera;
    const now = Date.now();
    const q = new URLSearchParams({ path: cam.id, start: new Date(now - DAY_MS).toISOString(), end: new Date(now).toISOString() });
    try {
      const res = await fetch(withToken(`${serviceUrl(links.playback)}/list?${q}`));
      if (res.status === 404) rec.spans = [];
      else if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || res.status);
      else rec.spans = (await res.json()).map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.start) + s.duration * 1000 }));
      say(rec.spans.length ? t('spans', { n: rec.spans.length }) : t('nothingRecorded'));
    } catch (e) {
      rec.spans = [];
      say(t('failed', { reason: e.message }), true);
    }
    if (rec.camera === cam) drawTimeline();
  }

  function x(ms) { return ((ms - rec.from) / (rec.to - rec.from)) * 100; }

  function drawTimeline() {
    const hours = Number($('rec-range').value);
    rec.to = Date.now();
    rec.from = rec.to - hours * 3600 * 1000;
    const line = $('timeline');
    line.textContent = '';
    const step = (hours <= 1 ? 5 : hours <= 6 ? 30 : 60) * 60 * 1000;
    const labelEvery = hours <= 1 ? 2 : 3;
    for (let tick = Math.ceil(rec.from / step) * step, n = 0; tick < rec.to; tick += step, n += 1) {
      const d = new Date(tick);
      const label = n % labelEvery ? '' : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
      const e = el('div', 'tick', label);
      e.style.left = `${x(tick)}%`;
      line.appendChild(e);
    }
    for (const s of rec.spans.filter((span) => span.end > rec.from)) {
      const e = el('div', 'span');
      e.style.left = `${Math.max(0, x(s.start))}%`;
      e.style.width = `${Math.max(0.15, x(s.end) - Math.max(0, x(s.start)))}%`;
      e.title = `${dateTimeOf(s.start)} → ${timeOf(s.end)}`;
      line.appendChild(e);
    }
    const cursor = el('div', 'cursor');
    cursor.id = 'cursor';
    cursor.hidden = true;
    line.appendChild(cursor);
    const list = $('spans');
    list.textContent = '';
    for (const s of rec.spans) {
      const b = el('button', 'span-play', `${timeOf(s.start)} – ${timeOf(s.end)}`);
      b.type = 'button';
      b.onclick = () => play(s.start);
      const li = el('li');
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  /** Plays the chosen minutes (at most to the end of the span) from `ms`. */
  function play(ms) {
    const span = rec.spans.find((s) => ms >= s.start - 1000 && ms < s.end);
    if (!span) { say(t('nothingAt', { when: dateTimeOf(ms) }), true); return; }
    const seconds = Math.min(Number($('rec-minutes').value) * 60, (span.end - Math.max(ms, span.start)) / 1000);
    const start = Math.max(ms, span.start);
    const q = new URLSearchParams({ path: rec.camera.id, start: new Date(start).toISOString(), duration: String(seconds) });
    rec.playingFrom = start;
    const video = $('playback');
    video.src = withToken(`${serviceUrl(links.playback)}/get?${q}`);
    video.play().catch(() => {});
    say(t('playing', { when: dateTimeOf(start), s: Math.round(seconds) }));
  }

  function followCursor() {
    const cursor = $('cursor');
    const video = $('playback');
    if (!cursor || rec.playingFrom === null || video.readyState === 0) return;
    cursor.hidden = false;
    cursor.style.left = `${x(rec.playingFrom + video.currentTime * 1000)}%`;
  }

  // ---- Start.
  async function main() {
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    document.documentElement.lang = LANG;
    document.title = t('title');
    $('login-form').addEventListener('submit', login);
    $('logout').onclick = logout;
    $('rec-close').onclick = closeRecordings;
    $('rec-refresh').onclick = loadSpans;
    $('rec-range').onchange = drawTimeline;
    $('timeline').addEventListener('click', (e) => {
      const r = $('timeline').getBoundingClientRect();
      play(rec.from + ((e.clientX - r.left) / r.width) * (rec.to - rec.from));
    });
    $('playback').addEventListener('error', () => say(t('cannotPlay', { reason: $('playback').error?.message || '' }), true));
    setInterval(followCursor, 250);
    window.vigiaConsole = { view, rec, session: () => session.claims };
    links = await getJSON('config.json');
    const saved = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    if (saved && saved.refreshToken) {
      session.refresh = saved.refreshToken;
      await refresh();
      if (session.access) return showApp();
      return;
    }
    signedOut('');
  }

  main();
})();
