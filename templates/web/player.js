// digestcast's player: enhances the page's plain <audio id="player"> (which works without this
// file). Loaded from /static/ (the CSP allows our own scripts only). No cookies; the only things
// kept are the playback speed and where you stopped, in this browser's localStorage. The listen
// beacons carry what was played and how far, nothing about who.
"use strict";
(function () {
  const box = document.getElementById("player-box");
  const audio = document.getElementById("player");
  if (!box || !audio) return;

  const $ = (id) => document.getElementById(id);
  const controls = box.querySelector(".player-controls");
  const captions = $("captions");
  const timeLabel = $("player-time");
  const playButton = $("playpause");
  const speed = $("speed");
  const playlist = $("playlist");
  const transcript = $("transcript");
  const SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
  const QUARTILES = [25, 50, 75, 100];

  controls.hidden = false;
  captions.hidden = false;
  box.querySelectorAll(".player-help").forEach((el) => { el.hidden = false; });

  const store = {
    get(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } },
    set(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } },
    drop(key) { try { window.localStorage.removeItem(key); } catch (e) { /* private mode */ } },
  };

  // ------------------------------------------------------------ the edition's stories
  const stories = playlist ? Array.from(playlist.querySelectorAll("li[data-src]")) : [];
  let current = 0;

  function story() {
    if (!stories.length) {
      return { id: box.dataset.id, title: box.dataset.title };
    }
    const li = stories[current];
    return { id: li.dataset.id, title: li.dataset.title };
  }

  // ------------------------------------------------------------ time and speed
  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "0:00";
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + sec : m + ":" + sec;
  }

  function showTime() {
    timeLabel.textContent = clock(audio.currentTime) + " / " + clock(audio.duration);
  }

  function setSpeed(rate) {
    const value = SPEEDS.includes(rate) ? rate : 1;
    audio.playbackRate = value;
    audio.defaultPlaybackRate = value;
    speed.value = String(value);
    store.set("digestcast:speed", String(value));
  }

  function stepSpeed(direction) {
    const at = SPEEDS.indexOf(audio.playbackRate);
    const next = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (at < 0 ? 1 : at) + direction))];
    setSpeed(next);
  }

  function skip(seconds) {
    const end = isFinite(audio.duration) ? audio.duration : Infinity;
    audio.currentTime = Math.min(end, Math.max(0, audio.currentTime + seconds));
  }

  function toggle() {
    if (audio.paused) audio.play().catch(() => {});
    else audio.pause();
  }

  speed.addEventListener("change", () => setSpeed(Number(speed.value)));
  $("back15").addEventListener("click", () => skip(-15));
  $("fwd30").addEventListener("click", () => skip(30));
  playButton.addEventListener("click", toggle);
  audio.addEventListener("play", () => { playButton.textContent = playButton.dataset.pause || "Pause"; });
  audio.addEventListener("pause", () => { playButton.textContent = playButton.dataset.play || "Play"; });
  audio.addEventListener("ratechange", () => {
    if (SPEEDS.includes(audio.playbackRate)) speed.value = String(audio.playbackRate);
  });

  // ------------------------------------------------------------ resume where you stopped
  const positionKey = () => "digestcast:position:" + audio.getAttribute("src");
  let lastSaved = 0;

  function savePosition(force) {
    const now = Date.now();
    if (!force && now - lastSaved < 2000) return;
    lastSaved = now;
    if (audio.currentTime > 1 && !audio.ended) store.set(positionKey(), audio.currentTime.toFixed(1));
  }

  function restorePosition() {
    const saved = Number(store.get(positionKey()));
    if (saved > 1 && isFinite(audio.duration) && saved < audio.duration - 1) {
      audio.currentTime = saved;
    }
  }

  audio.addEventListener("loadedmetadata", () => {
    restorePosition();
    setSpeed(Number(speed.value)); // a new source starts at the chosen speed
    showTime();
  });
  audio.addEventListener("pause", () => savePosition(true));
  window.addEventListener("pagehide", () => savePosition(true));

  // ------------------------------------------------------------ captions under the player
  let track = null;

  function showCues() {
    if (!track) return;
    const active = track.activeCues ? Array.from(track.activeCues) : [];
    const text = active.map((cue) => cue.text).join(" ");
    if (captions.textContent !== text) captions.textContent = text;
    highlight(text);
  }

  function bindTrack() {
    const el = audio.querySelector("track");
    track = el ? el.track : null;
    captions.textContent = "";
    if (!el || !track) return;
    track.mode = "hidden"; // cues load and fire, the page (not the browser) shows them
    el.addEventListener("cuechange", showCues);
    el.addEventListener("load", seekableParagraphs);
  }

  // ------------------------------------------------------------ the transcript
  const paras = transcript ? Array.from(transcript.querySelectorAll("p")) : [];
  const squash = (s) => s.replace(/\s+/g, " ").trim();
  let lit = null;

  function seekableParagraphs() {
    // spans from audio.json come with the page; without them, a paragraph starts at its first cue
    if (track && track.cues) {
      const cues = Array.from(track.cues);
      for (const p of paras) {
        if (p.dataset.start) continue;
        const text = squash(p.textContent);
        const cue = cues.find((c) => c.text && text.includes(squash(c.text)));
        if (cue) p.dataset.start = String(cue.startTime);
      }
    }
    let any = false;
    for (const p of paras) {
      if (!p.dataset.start || p.dataset.seekBound) continue;
      any = true;
      p.dataset.seekBound = "1";
      p.tabIndex = 0;
      p.setAttribute("role", "button");
      p.setAttribute("aria-describedby", "seek-hint"); // the paragraph's own text stays its name
      const go = () => {
        audio.currentTime = Number(p.dataset.start);
        audio.play().catch(() => {});
      };
      p.addEventListener("click", go);
      p.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          go();
        }
      });
    }
    if (any || paras.some((p) => p.dataset.seekBound)) {
      transcript.classList.add("seekable");
      if (!document.getElementById("seek-hint")) {
        const hint = document.createElement("span");
        hint.id = "seek-hint";
        hint.className = "visually-hidden";
        hint.textContent = box.dataset.seekHint || "Plays the audio from this paragraph.";
        transcript.appendChild(hint);
      }
    }
  }

  function currentParagraph(cueText) {
    const t = audio.currentTime;
    const timed = paras.filter((p) => p.dataset.start && p.dataset.end);
    if (timed.length) {
      return timed.find((p) => t >= Number(p.dataset.start) && t < Number(p.dataset.end)) || null;
    }
    const text = squash(cueText);
    return text ? paras.find((p) => squash(p.textContent).includes(text)) || null : null;
  }

  function unlight() {
    if (!lit) return;
    lit.classList.remove("current");
    if (lit.dataset.text !== undefined) lit.textContent = lit.dataset.text;
    lit = null;
  }

  let shown = null; // [paragraph, cue text] last drawn: timeupdate fires 4 times a second

  function highlight(cueText) {
    if (!paras.length) return;
    const p = currentParagraph(cueText);
    if (shown && shown[0] === p && shown[1] === cueText) return;
    shown = [p, cueText];
    if (p !== lit) unlight();
    if (!p) return;
    lit = p;
    p.classList.add("current");
    if (p.dataset.text === undefined) p.dataset.text = p.textContent;
    const full = p.dataset.text;
    const wanted = squash(cueText);
    const at = wanted ? squash(full).indexOf(wanted) : -1;
    // the page's text is already whitespace-squashed by the server, so offsets agree
    if (at < 0 || squash(full) !== full) {
      p.textContent = full;
      return;
    }
    const mark = document.createElement("mark");
    mark.className = "sentence-current";
    mark.textContent = full.slice(at, at + wanted.length);
    p.replaceChildren(full.slice(0, at), mark, full.slice(at + wanted.length));
  }

  // ------------------------------------------------------------ listen counts (no personal data)
  // one story's counts: an article (also inside an edition) or the day's spoken briefing
  const ownKind = stories.length ? "article" : box.dataset.kind;
  const sent = { article: new Set(), edition: new Set() };
  let editionStarted = false;

  function beacon(kind, id, event) {
    const body = JSON.stringify({ kind: kind, id: Number(id), event: event });
    const blob = new Blob([body], { type: "text/plain" });
    if (!(navigator.sendBeacon && navigator.sendBeacon("/beacon", blob))) {
      fetch("/beacon", { method: "POST", body: body, keepalive: true, credentials: "omit" }).catch(() => {});
    }
  }

  function progress() {
    if (!isFinite(audio.duration) || audio.duration <= 0) return;
    const fraction = audio.ended ? 1 : audio.currentTime / audio.duration;
    const id = story().id;
    for (const q of QUARTILES) {
      if (fraction * 100 >= q - 0.5 && !sent.article.has(q)) {
        sent.article.add(q);
        beacon(ownKind, id, String(q));
      }
    }
    if (stories.length) {
      const whole = ((current + fraction) / stories.length) * 100;
      for (const q of QUARTILES) {
        if (whole >= q - 0.5 && !sent.edition.has(q)) {
          sent.edition.add(q);
          beacon("edition", box.dataset.id, String(q));
        }
      }
    }
  }

  audio.addEventListener("playing", () => {
    if (!sent.article.has("play")) {
      sent.article.add("play");
      beacon(ownKind, story().id, "play");
    }
    if (stories.length && !editionStarted) {
      editionStarted = true;
      beacon("edition", box.dataset.id, "play");
    }
  });
  audio.addEventListener("timeupdate", () => {
    showTime();
    savePosition(false);
    showCues();
    progress();
  });
  audio.addEventListener("ended", () => {
    progress();
    store.drop(positionKey());
    sent.article = new Set(); // listening again is a new play
    if (stories.length && current + 1 < stories.length) {
      load(current + 1, true);
    } else {
      sent.edition = new Set();
      editionStarted = false;
    }
  });

  // ------------------------------------------------------------ the edition, story after story
  function load(index, autoplay) {
    current = index;
    const li = stories[index];
    const rate = audio.playbackRate;
    audio.querySelectorAll("track").forEach((el) => el.remove());
    audio.setAttribute("src", li.dataset.src);
    if (li.dataset.vtt) {
      const el = document.createElement("track");
      el.kind = "captions";
      el.label = box.dataset.captions || "Captions";
      el.srclang = li.dataset.language || "en";
      el.src = li.dataset.vtt;
      el.default = true;
      audio.appendChild(el);
    }
    bindTrack();
    audio.load();
    audio.playbackRate = rate;
    stories.forEach((item, i) => {
      item.classList.toggle("playing", i === index);
      if (i === index) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
    });
    box.dataset.title = li.dataset.title;
    store.set("digestcast:edition:" + box.dataset.id, String(index));
    mediaSession();
    if (autoplay) audio.play().catch(() => {});
  }

  // ------------------------------------------------------------ lock screen and headphones
  function mediaSession() {
    if (!("mediaSession" in navigator)) return;
    const art = new URL(box.dataset.artwork, window.location.href).href;
    navigator.mediaSession.metadata = new MediaMetadata({
      title: story().title,
      artist: box.dataset.artist,
      album: box.dataset.album,
      artwork: [{ src: art, sizes: "any", type: art.endsWith(".png") ? "image/png" : "image/svg+xml" }],
    });
  }

  if ("mediaSession" in navigator) {
    const actions = {
      play: () => audio.play().catch(() => {}),
      pause: () => audio.pause(),
      seekbackward: (d) => skip(-((d && d.seekOffset) || 15)),
      seekforward: (d) => skip((d && d.seekOffset) || 30),
      seekto: (d) => { if (d && isFinite(d.seekTime)) audio.currentTime = d.seekTime; },
      previoustrack: stories.length ? () => load(Math.max(0, current - 1), true) : null,
      nexttrack: stories.length ? () => { if (current + 1 < stories.length) load(current + 1, true); } : null,
    };
    for (const [name, handler] of Object.entries(actions)) {
      try { navigator.mediaSession.setActionHandler(name, handler); } catch (e) { /* unsupported */ }
    }
  }

  // ------------------------------------------------------------ keyboard
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    const onControl = tag === "BUTTON" || tag === "A" || tag === "AUDIO" || (target && target.getAttribute && target.getAttribute("role") === "button");
    const key = event.key;
    if (key === "k" || key === "K" || (key === " " && !onControl)) toggle();
    else if (key === "j" || key === "J" || (key === "ArrowLeft" && tag !== "AUDIO")) skip(-15);
    else if (key === "l" || key === "L" || (key === "ArrowRight" && tag !== "AUDIO")) skip(30);
    else if (key === "<" || key === ",") stepSpeed(-1);
    else if (key === ">" || key === ".") stepSpeed(1);
    else return;
    event.preventDefault();
  });

  // ------------------------------------------------------------ start
  const savedSpeed = Number(store.get("digestcast:speed"));
  if (stories.length) {
    const savedIndex = Number(store.get("digestcast:edition:" + box.dataset.id));
    if (savedIndex > 0 && savedIndex < stories.length) load(savedIndex, false);
    else { bindTrack(); mediaSession(); }
  } else {
    bindTrack();
    mediaSession();
  }
  setSpeed(SPEEDS.includes(savedSpeed) ? savedSpeed : 1);
  seekableParagraphs();
  if (audio.readyState >= 1) restorePosition(); // metadata may have come before this script
  showTime();
})();
