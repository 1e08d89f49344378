// The demo page: loads the local Pyodide and autosync wheel, starts autosync on /data (unless the URL
// has ?manual), and exposes window.runPy(code) for the headless driver and the end-to-end tests.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const params = new URLSearchParams(location.search);
const statusLine = document.getElementById("status");
const output = document.getElementById("output");

const pyodide = await loadPyodide({
  indexURL: "/pyodide/",
  stdout: (line) => (output.textContent += line + "\n"),
  stderr: (line) => (output.textContent += line + "\n"),
});
await pyodide.loadPackage("/pyodide/autosync-0.1.0-py3-none-any.whl");
const dumps = pyodide.pyimport("json").dumps;

// Runs Python with top-level await; returns {value: JSON text} or {error: traceback}.
window.runPy = async (code) => {
  try {
    const result = await pyodide.runPythonAsync(code);
    if (result && typeof result === "object" && typeof result.destroy === "function") {
      const text = dumps(result);
      result.destroy();
      return { value: text };
    }
    return { value: JSON.stringify(result === undefined ? null : result) };
  } catch (e) {
    return { error: String(e.message || e) };
  }
};

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
  statusLine.textContent = "autosync " + view.status;
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
    await py(`import autosync\nawait autosync.start("/data", debounce_ms=500)\nNone`);
    document.getElementById("note-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = document.getElementById("note");
      pyodide.globals.set("note_text", note.value);
      await py(`with open("/data/notes.txt", "a") as f:\n    f.write(note_text + "\\n")\nNone`);
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
  statusLine.textContent = "Pyodide ready (manual mode: autosync not started)";
}
window.pyodideReady = true;
