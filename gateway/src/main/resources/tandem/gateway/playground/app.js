// Tandem playground: plain JavaScript, no build step, no outside resources. It talks to the gateway's
// OpenAI-compatible API on the same origin and reads Tandem's extension fields (tandem_boxes, tandem_timings).
"use strict";

const $ = (id) => document.getElementById(id);
let imageDataUri = null;
let model = null;
let controller = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    model = body.data[0].id;
    $("model").textContent = "model: " + model;
  } catch (e) {
    $("model").textContent = "model: unknown (" + e.message + ")";
  }
}

function useFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    showError("That is not an image: " + (file.type || file.name));
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    imageDataUri = reader.result;
    $("image").src = imageDataUri;
    $("stage").hidden = false;
    $("boxes").replaceChildren();
    $("drop-hint").textContent = file.name + " — drop or click to change";
    showError("");
  };
  reader.readAsDataURL(file);
}

function drawBox(box) {
  if (!box.parsed || box.box_per_mille.length !== 4) return;
  const [x1, y1, x2, y2] = box.box_per_mille;
  const el = document.createElement("div");
  el.className = "box";
  // per-mille of the image: independent of the size the image is shown at
  el.style.left = x1 / 10 + "%";
  el.style.top = y1 / 10 + "%";
  el.style.width = (x2 - x1) / 10 + "%";
  el.style.height = (y2 - y1) / 10 + "%";
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = box.label || "?";
  el.appendChild(label);
  el.title = box.label + " " + box.box_pixels.map((v) => Math.round(v)).join(", ") + " px";
  $("boxes").appendChild(el);
}

function showTimings(t) {
  const rows = [
    ["preprocess", t.preprocess_ms], ["vision", t.vision_ms], ["tokenize", t.tokenize_ms],
    ["prefill", t.prefill_ms], ["time to first token", t.time_to_first_token_ms], ["decode", t.decode_ms],
    ["box parsing", t.parse_ms], ["total", t.total_ms],
  ];
  const body = $("timings").tBodies[0];
  body.replaceChildren();
  for (const [name, ms] of rows) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    a.textContent = name;
    const b = document.createElement("td");
    b.className = "num";
    b.textContent = (ms || 0).toFixed(1);
    tr.append(a, b);
    body.appendChild(tr);
  }
  if (t.vision_cache_hit) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    a.textContent = "vision cache";
    const b = document.createElement("td");
    b.className = "num";
    b.textContent = "hit";
    tr.append(a, b);
    body.appendChild(tr);
  }
  $("timings").hidden = false;
}

function handleChunk(chunk) {
  if (chunk.error) throw new Error(chunk.error.message);
  const choice = chunk.choices && chunk.choices[0];
  if (choice) {
    const d = choice.delta || {};
    if (d.content) $("answer").textContent += d.content;
    if (d.tandem_boxes) d.tandem_boxes.forEach(drawBox);
    if (choice.finish_reason) $("finish").textContent = "finished: " + choice.finish_reason;
  }
  if (chunk.tandem_timings) showTimings(chunk.tandem_timings);
  if (chunk.usage) {
    $("finish").textContent += " · " + chunk.usage.prompt_tokens + " prompt tokens, " +
      chunk.usage.completion_tokens + " generated";
  }
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question && !imageDataUri) {
    showError("Choose an image or type a question first.");
    return;
  }
  showError("");
  $("answer").textContent = "";
  $("finish").textContent = "";
  $("timings").hidden = true;
  $("boxes").replaceChildren();
  const content = [];
  if (imageDataUri) content.push({ type: "image_url", image_url: { url: imageDataUri } });
  if (question) content.push({ type: "text", text: question });
  const body = { messages: [{ role: "user", content }], stream: true, stream_options: { include_usage: true } };
  if (model) body.model = model;
  const max = parseInt($("max-tokens").value, 10);
  if (max > 0) body.max_tokens = max;
  if ($("temperature").value !== "") body.temperature = parseFloat($("temperature").value);
  if ($("stop").value !== "") body.stop = $("stop").value;

  controller = new AbortController();
  $("send").disabled = true;
  $("cancel").disabled = false;
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!r.ok) {
      let message = r.status + " " + r.statusText;
      try {
        message = (await r.json()).error.message;
      } catch (ignored) { /* not JSON */ }
      throw new Error(message);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ")) continue; // keep-alive comments
        const data = event.slice(6);
        if (data === "[DONE]") return;
        handleChunk(JSON.parse(data));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
  } finally {
    $("send").disabled = false;
    $("cancel").disabled = true;
    controller = null;
  }
}

function init() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => useFile(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    useFile(e.dataTransfer.files[0]);
  });
  $("ask").addEventListener("submit", ask);
  $("cancel").addEventListener("click", () => controller && controller.abort());
  $("token").value = localStorage.getItem("tandem-token") || "";
  $("token").addEventListener("change", () => { localStorage.setItem("tandem-token", $("token").value); loadModel(); });
  loadModel();
}

init();
