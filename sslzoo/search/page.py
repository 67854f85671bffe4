"""The search page served at `/`: one self-contained HTML document (no external assets).

The script builds results with DOM calls and `textContent` only (never innerHTML with
data), so captions and file names cannot inject markup.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sslzoo search</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }
  header { background: #263238; color: #fff; padding: 12px 20px; }
  header h1 { font-size: 18px; margin: 0 0 8px 0; }
  form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
  input[type=search] { flex: 1 1 320px; font-size: 16px; padding: 6px 8px; }
  button, select { font-size: 15px; padding: 6px 12px; }
  #status { padding: 8px 20px; font-size: 14px; color: #555; min-height: 18px; }
  #results { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
             gap: 12px; padding: 0 20px 20px 20px; }
  .hit { background: #fff; border-radius: 6px; padding: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.15);
         font-size: 13px; overflow: hidden; }
  .hit img, .hit video { width: 100%; height: 150px; object-fit: contain; background: #111;
                         image-rendering: pixelated; display: block; }
  .hit audio { width: 100%; }
  .score { font-weight: 600; }
  .name { color: #666; word-break: break-all; }
</style>
</head>
<body>
<header>
  <h1>sslzoo search</h1>
  <form id="text-form">
    <input id="q" type="search" name="text" placeholder="Describe what you are looking for" autocomplete="off">
    <select id="k" aria-label="results"><option>10</option><option selected>20</option><option>50</option></select>
    <button id="search" type="submit">Search</button>
    <label>or upload an image, sound or video:
      <input id="file" type="file" accept="image/*,audio/*,video/*"></label>
  </form>
</header>
<div id="status"></div>
<div id="results"></div>
<script>
"use strict";
const results = document.getElementById("results");
const status = document.getElementById("status");

function span(hit) {
  if (hit.start === null || hit.start === undefined) return "";
  return " [" + hit.start.toFixed(1) + "s-" + hit.end.toFixed(1) + "s]";
}

function card(hit) {
  const box = document.createElement("div");
  box.className = "hit";
  box.dataset.id = hit.id;
  if (hit.url) {
    let player;
    if (hit.media === "image") {
      player = document.createElement("img");
      player.alt = hit.name || "";
      player.loading = "lazy";
      player.src = hit.url;
    } else if (hit.media === "video") {
      player = document.createElement("video");
      player.controls = true;
      player.preload = "metadata";
      player.src = hit.url + (hit.start !== null ? "#t=" + hit.start + "," + hit.end : "");
    } else if (hit.media === "audio") {
      player = document.createElement("audio");
      player.controls = true;
      player.preload = "none";
      player.src = hit.url + (hit.start !== null ? "#t=" + hit.start + "," + hit.end : "");
    }
    if (player) box.appendChild(player);
  }
  const score = document.createElement("div");
  score.className = "score";
  score.textContent = hit.score.toFixed(3) + (hit.label ? "  \u00b7  " + hit.label : "");
  box.appendChild(score);
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = (hit.name || "item " + hit.id) + span(hit);
  box.appendChild(name);
  if (hit.caption) {
    const caption = document.createElement("div");
    caption.textContent = hit.caption;
    box.appendChild(caption);
  }
  return box;
}

async function show(response) {
  let payload;
  try { payload = await response.json(); } catch (e) { payload = {error: "bad response"}; }
  results.replaceChildren();
  if (!response.ok) { status.textContent = "Error: " + payload.error; return; }
  status.textContent = payload.results.length + " results in " + payload.took_ms + " ms (space " + payload.space + ")";
  for (const hit of payload.results) results.appendChild(card(hit));
}

document.getElementById("text-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = document.getElementById("q").value.trim();
  if (!text) return;
  status.textContent = "Searching...";
  const k = document.getElementById("k").value;
  await show(await fetch("/api/search?k=" + k + "&text=" + encodeURIComponent(text)));
});

document.getElementById("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  status.textContent = "Searching by " + file.name + "...";
  const k = document.getElementById("k").value;
  await show(await fetch("/api/search?k=" + k, {method: "POST", body: file,
                                                headers: {"Content-Type": file.type || "application/octet-stream"}}));
});
</script>
</body>
</html>
"""
