// Pyodide with autosync in a dedicated Web Worker, for the demo page's ?worker mode.
// In: {id, code}. Out: {ready: true} once loaded, {output: line} for print(), {id, value | error}.
import { startPython } from "./python.js";

const runPy = await startPython((line) => postMessage({ output: line }));
onmessage = async ({ data }) => postMessage({ id: data.id, ...(await runPy(data.code)) });
postMessage({ ready: true });
