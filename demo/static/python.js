// Loads the local Pyodide and the autosync wheel. Shared by the page (demo.js) and, in the page's
// ?worker mode, by the dedicated worker (worker.js), so both run Python the same way.
//
// ?pyodide=0.27 loads an older pinned Pyodide, which the demo server has at /pyodide-0.27/ (the
// worker gets the page's query too); without it, the newest, at /pyodide/.
function pyodideBase() {
  const version = new URLSearchParams(location.search).get("pyodide");
  if (!version) return "/pyodide/";
  if (!/^[0-9]+(\.[0-9]+)*$/.test(version)) throw new Error(`?pyodide=${version}: expected a version line like 0.27`);
  return `/pyodide-${version}/`;
}

// Returns runPy(code): runs Python with top-level await and resolves to {value: JSON text} or
// {error: traceback}, never rejects -- the shape that crosses postMessage and the test driver.
export async function startPython(onOutput) {
  const base = pyodideBase();
  const { loadPyodide } = await import(base + "pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL: base, stdout: onOutput, stderr: onOutput });
  // ./dev registers the freshly built wheel in each local dist's pyodide-lock.json
  // (scripts/build_dist.py add-wheel), so it loads by package name, whatever its version.
  await pyodide.loadPackage("autosync");
  const dumps = pyodide.pyimport("json").dumps;
  return async (code) => {
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
}
