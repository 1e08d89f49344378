// The demo page: runs Pyodide with autosync on this page, or in a dedicated Web Worker with ?worker;
// starts autosync on /data (unless the URL has ?manual), and exposes window.runPy(code) for the
// headless driver and the end-to-end tests.
import { startPython } from "./python.js";

const params = new URLSearchParams(location.search);
const statusLine = document.getElementById("status");
const output = document.getElementById("output");
const where = params.has("worker") ? "in a Web Worker" : "on this page";

// The same runPy as startPython's, with each call posted to the worker and its answer awaited.
function startPythonInWorker(onOutput) {
  // The page's query goes along: ?pyodide=... picks the worker's Pyodide too.
  const worker = new Worker("worker.js" + location.search, { type: "module" });
  const waiting = new Map();
  let nextId = 0;
  const runPy = (code) =>
    new Promise((answer) => {
      waiting.set(++nextId, answer);
      worker.postMessage({ id: nextId, code });
    });
  return new Promise((ready, failed) => {
    worker.onerror = (event) => failed(new Error("the worker failed to load: " + event.message));
    worker.onmessage = ({ data }) => {
      if (data.ready) ready(runPy);
      else if ("output" in data) onOutput(data.output);
      else {
        waiting.get(data.id)(data);
        waiting.delete(data.id);
      }
    };
  });
}

const show = (line) => (output.textContent += line + "\n");
window.runPy = await (params.has("worker") ? startPythonInWorker(show) : startPython(show));

async function py(code) {
  const result = await window.runPy(code);
  if (result.error) throw new Error(result.error);
  return JSON.parse(result.value);
}

async function refresh() {
  const view = await py(`
import os
files = []
for top, dirs, names in os.walk("/data"):
    for name in sorted(names):
        p = os.path.join(top, name)
        with open(p, "rb") as f:
            head = f.read(60)
        preview = "(binary)" if b"\\0" in head else head.decode("utf-8", "replace")
        files.append([p, os.path.getsize(p), preview])
s = autosync.status("/data")
{"files": files, "status": f"{s.state}: {s.flush_count} flushes, {s.pending_changes} pending, "
 f"restored {s.restored.get('files', 0)} files" + (f" — last error: {s.last_error}" if s.last_error else "")}
`);
  statusLine.textContent = `autosync ${where}: ${view.status}`;
  const body = document.querySelector("#files tbody");
  body.replaceChildren(
    ...view.files.map(([path, size, head]) => {
      const row = document.createElement("tr");
      for (const text of [path, String(size), head]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    })
  );
}

if (!params.has("manual")) {
  try {
    await py(`import autosync\nawait autosync.start("/data", debounce_ms=500).ready()\nNone`);
    document.getElementById("note-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = document.getElementById("note");
      // A JSON string is a valid Python string literal.
      const text = JSON.stringify(note.value + "\n");
      await py(`with open("/data/notes.txt", "a") as f:\n    f.write(${text})\nNone`);
      note.value = "";
      await refresh();
    });
    document.getElementById("run").addEventListener("click", async () => {
      output.textContent = "";
      const result = await window.runPy(document.getElementById("code").value + "\nNone");
      if (result.error) output.textContent += result.error;
      await refresh();
    });
    await refresh();
    setInterval(refresh, 1000);
  } catch (e) {
    statusLine.textContent = "autosync failed to start: " + e.message;
    statusLine.classList.add("error");
  }
} else {
  statusLine.textContent = `Pyodide ready ${where} (manual mode: autosync not started)`;
}
window.pyodideReady = true;
