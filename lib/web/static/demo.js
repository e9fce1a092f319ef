// The demo page: send the file or URL to /demo/identify/<api_type>, show progress, then
// the verdict, the waveform with the matched regions at their real offsets, the songs,
// the raw JSON and the equivalent curl call. No framework, no build step.

const $ = (id) => document.getElementById(id);
const form = $("identify-form");
const fileInput = $("file-input");
const urlInput = $("url-input");
const product = $("product-select");
const player = $("player");
const maxBytes = Number(form.dataset.maxUploadBytes);
let chosen = null; // the File to send, if any
let playable = null; // object URL of the chosen file, revoked when replaced

const MESSAGES = {
  too_large: () => `This file is larger than the demo's ${Math.round(maxBytes / 2 ** 20)} MB limit.`,
  unsupported_media: () => "This is not an audio or video file we can decode. Try MP3, M4A, FLAC, WAV, Ogg or a video.",
  audio_too_short: (error) => error.message,
  rate_limited: () => "You have used this demo a lot in the last hour. Try again later, or ask us for an API key.",
};
const URL_PROBLEMS = ["download_failed", "download_timeout", "url_not_allowed", "invalid_url", "validation_error"];

function pad(n) { return String(n).padStart(2, "0"); }
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function choose(file) {
  chosen = file;
  $("file-name").textContent = file ? `${file.name} · ${(file.size / 2 ** 20).toFixed(1)} MB` : "";
  if (file) urlInput.value = "";
}
fileInput.addEventListener("change", () => choose(fileInput.files[0] || null));
urlInput.addEventListener("input", () => { if (urlInput.value) { fileInput.value = ""; choose(null); } });
const zone = $("drop-zone");
for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
}
for (const type of ["dragleave", "drop"]) {
  zone.addEventListener(type, () => zone.classList.remove("dragging"));
}
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
});
const describe = () => { $("product-question").textContent = product.selectedOptions[0].dataset.question; };
product.addEventListener("change", describe);
describe();

function busy(text, percent) {
  $("progress").hidden = false;
  $("status").textContent = text;
  const bar = $("progress-bar");
  if (percent === undefined) bar.removeAttribute("value"); else bar.value = percent;
}
function fail(text) {
  $("progress").hidden = true;
  $("submit").disabled = false;
  $("error").textContent = text;
  $("error").hidden = false;
}
function explain(status, body) {
  const error = body && body.error ? body.error : { code: "", message: `The server answered ${status}.` };
  if (MESSAGES[error.code]) return MESSAGES[error.code](error);
  if (URL_PROBLEMS.includes(error.code)) return `We could not fetch that URL: ${error.message}`;
  return error.message;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = urlInput.value.trim();
  $("error").hidden = true;
  if (!chosen && !url) return fail("Choose a file or paste a URL first.");
  if (chosen && chosen.size > maxBytes) return fail(MESSAGES.too_large());
  const body = new FormData();
  if (chosen) body.append("file", chosen); else body.append("url", url);
  const apiType = product.value;
  const request = new XMLHttpRequest();
  request.open("POST", `/demo/identify/${encodeURIComponent(apiType)}`);
  request.responseType = "json";
  request.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) busy(`Uploading… ${Math.round((100 * e.loaded) / e.total)} %`, (100 * e.loaded) / e.total);
  });
  request.upload.addEventListener("load", () => busy("Listening and matching…"));
  request.addEventListener("load", () => {
    if (request.status === 200) show(request.response, apiType, chosen, url);
    else fail(explain(request.status, request.response));
  });
  request.addEventListener("error", () => fail("The connection to the server failed. Check your network and try again."));
  $("submit").disabled = true;
  $("results").hidden = true;
  busy(chosen ? "Uploading…" : "Fetching the file…", chosen ? 0 : undefined);
  request.send(body);
});

function show(data, apiType, file, url) {
  const result = data.response.result[0];
  const songs = result.songs;
  const name = product.selectedOptions[0].textContent;
  $("progress").hidden = true;
  $("submit").disabled = false;
  const verdict = $("verdict");
  const heard = clock(result.analysed_seconds);
  // an incomplete scan is never a clearance: say how much was heard, and of what
  const partly = result.status === "incomplete";
  const rest = partly ? ` Only ${heard}${result.media_seconds ? ` of ${clock(result.media_seconds)}` : ""}` +
    ` were analysed (${result.reason.code === "time_limit" ? "the demo's limit" : "the rest could not be decoded"}),` +
    " so this is not a clearance." : "";
  verdict.className = `verdict ${songs.length ? "found" : partly ? "partial" : "cleared"}`;
  $("verdict-title").textContent = songs.length
    ? `${songs.length} ${songs.length === 1 ? "match" : "matches"} found`
    : partly ? "No match in what we heard — not cleared" : "No match — cleared";
  $("verdict-detail").textContent = (songs.length
    ? `${name}: these catalog recordings are in your ${heard} of audio.`
    : `${name}: nothing in our catalog was heard in your ${heard} of audio.`) + rest;

  if (playable) URL.revokeObjectURL(playable);
  playable = file ? URL.createObjectURL(file) : null;
  player.src = playable || (result.source ? result.source.media_url : url); // a page's own media, not the page
  drawWaveform(data.waveform, songs);
  $("songs").replaceChildren(...songs.map((song, i) => card(song, i, data.covers[song.track_id])));
  $("raw-json").textContent = JSON.stringify(data.response, null, 2);
  $("curl").textContent = curl(apiType, file, url);
  $("results").hidden = false;
  verdict.focus?.();
}

function drawWaveform(waveform, songs) {
  const { peaks, seconds } = waveform;
  const svg = $("waveform-bars");
  const step = 1000 / Math.max(peaks.length, 1);
  const bars = peaks.map((peak, i) => {
    const height = Math.max(1, peak * 92);
    const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    for (const [k, v] of Object.entries({ x: i * step, y: 50 - height / 2, width: step * 0.72, height })) bar.setAttribute(k, v);
    return bar;
  });
  svg.replaceChildren(...bars);
  $("duration").textContent = clock(seconds);
  $("regions").replaceChildren(...songs.map((song, i) => {
    const start = song.start_offset / 1000, end = song.end_offset / 1000;
    const region = el("button", {
      type: "button",
      class: `region region-${i % 4}`,
      "data-start-ms": song.start_offset,
      "data-end-ms": song.end_offset,
      "aria-label": `Play from ${clock(start)}: ${song.title || song.track_id}, ${clock(start)} to ${clock(end)}`,
      title: `${song.title || song.track_id} · ${clock(start)}–${clock(end)}`,
    });
    region.style.left = `${(100 * start) / seconds}%`;
    region.style.width = `${(100 * (end - start)) / seconds}%`;
    region.addEventListener("click", () => { player.currentTime = start; player.play().catch(() => {}); });
    return region;
  }));
  player.ontimeupdate = () => {
    const head = $("playhead");
    head.hidden = false;
    head.style.left = `${(100 * player.currentTime) / seconds}%`;
  };
}

function placeholder() {
  return el("div", { class: "cover placeholder", role: "img", "aria-label": "No cover art" }, el("span", { text: "♪" }));
}

function card(song, index, coverUrl) {
  const title = song.title || song.track_id;
  let cover = placeholder();
  if (coverUrl) {
    cover = el("img", { class: "cover", src: coverUrl, alt: `Cover of ${song.album || title}`, loading: "lazy" });
    cover.addEventListener("error", () => cover.replaceWith(placeholder()));
  }
  const facts = [
    ["Album", song.album], ["Label", song.label], ["Released", song.release_date],
    ["ISRC", song.isrc], ["Found at", `${song.timecode} (${clock(song.start_offset / 1000)}–${clock(song.end_offset / 1000)})`],
  ].filter(([, value]) => value);
  return el("li", { class: `song region-${index % 4}`, "data-track-id": song.track_id },
    cover,
    el("div", { class: "song-body" },
      el("h3", { class: "song-title", text: title }),
      el("p", { class: "song-artist", text: song.artist }),
      el("p", { class: "badges" },
        song.major_label ? el("span", { class: "badge major", text: `Major label · ${song.major_label}` }) : null,
        song.content_id ? el("span", { class: "badge", text: "Content ID" }) : null,
        el("span", { class: "badge score", text: `Score ${song.score.toFixed(1)}` })),
      el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
      song.song_link ? el("a", { href: song.song_link, target: "_blank", rel: "noopener", text: "Listen to the original" }) : null));
}

function quote(text) { return `'${text.replaceAll("'", "'\\''")}'`; }
function curl(apiType, file, url) {
  const endpoint = `${location.origin}/v1/identify/${apiType}`;
  const head = `curl -X POST ${quote(endpoint)} \\\n  -H "X-API-Key: $CLEARED_API_KEY" \\\n  `;
  return file ? `${head}-F ${quote(`file=@${file.name}`)}` : `${head}-H 'Content-Type: application/json' \\\n  -d ${quote(JSON.stringify({ url }))}`;
}
$("copy-curl").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("curl").textContent);
    $("copied").textContent = "Copied.";
  } catch {
    $("copied").textContent = "Select the command and copy it.";
  }
});
