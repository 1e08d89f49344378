"""Benchmarks of autosync against Emscripten's IDBFS, in real headless Chromium (``./dev bench``)."""
