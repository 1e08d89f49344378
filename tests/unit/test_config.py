import pytest

from autosync.config import resolve
from autosync.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_config_file_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def write(tmp_path, text):
    f = tmp_path / "conf.toml"
    f.write_text(text)
    return str(f)


def test_defaults():
    s = resolve({"path": "/data"}, environ={})
    assert (s.debounce_ms, s.max_wait_ms, s.flush_on_hide) == (500, 2000, True)


def test_argument_beats_environment_beats_file(tmp_path):
    f = write(tmp_path, 'path = "/f"\ndebounce_ms = 10\nmax_wait_ms = 3000\nretry_min_ms = 7\n')
    env = {"AUTOSYNC_DEBOUNCE_MS": "20", "AUTOSYNC_MAX_WAIT_MS": "4000"}
    s = resolve({"debounce_ms": 30}, environ=env, config_file=f)
    assert s.path == "/f"
    assert s.debounce_ms == 30
    assert s.max_wait_ms == 4000
    assert s.retry_min_ms == 7
    assert s.sources["debounce_ms"] == "argument"
    assert s.sources["max_wait_ms"] == "environment variable AUTOSYNC_MAX_WAIT_MS"


def test_config_file_named_by_environment(tmp_path):
    f = write(tmp_path, 'path = "/from-file"\n')
    assert resolve({}, environ={"AUTOSYNC_CONFIG": f}).path == "/from-file"


def test_autosync_toml_in_current_directory_is_read(tmp_path):
    (tmp_path / "autosync.toml").write_text('path = "/cwd"\nflush_on_hide = false\n')
    s = resolve({}, environ={})
    assert s.path == "/cwd" and s.flush_on_hide is False


def test_unknown_key_in_file_is_named(tmp_path):
    f = write(tmp_path, 'path = "/d"\ndebounce = 5\n')
    with pytest.raises(ConfigError, match=r"unknown key 'debounce' \(value 5\)"):
        resolve({}, environ={}, config_file=f)


def test_unknown_environment_variable_is_named():
    with pytest.raises(ConfigError, match="AUTOSYNC_DEBOUNCE='5'"):
        resolve({"path": "/d"}, environ={"AUTOSYNC_DEBOUNCE": "5"})


def test_unknown_argument_is_named():
    with pytest.raises(ConfigError, match="unknown setting 'speed'"):
        resolve({"path": "/d", "speed": 3}, environ={})


def test_non_numeric_debounce_names_key_value_and_source():
    with pytest.raises(ConfigError, match=r"debounce_ms.*'soon'.*AUTOSYNC_DEBOUNCE_MS"):
        resolve({"path": "/d"}, environ={"AUTOSYNC_DEBOUNCE_MS": "soon"})


@pytest.mark.parametrize("value", [-1, True, "x", None.__class__, float("nan")])
def test_bad_debounce_values_are_rejected(value):
    with pytest.raises(ConfigError, match="debounce_ms"):
        resolve({"path": "/d", "debounce_ms": value}, environ={})


def test_timer_limit_is_enforced():
    with pytest.raises(ConfigError, match="at most 2147483647"):
        resolve({"path": "/d", "max_wait_ms": 2**31}, environ={})


def test_max_wait_below_debounce_is_rejected():
    with pytest.raises(
        ConfigError, match=r"max_wait_ms: must be at least debounce_ms \(500\), got 100"
    ):
        resolve({"path": "/d", "max_wait_ms": 100}, environ={})


def test_zero_max_wait_is_rejected():
    with pytest.raises(ConfigError, match="max_wait_ms: must be greater than 0"):
        resolve({"path": "/d", "max_wait_ms": 0, "debounce_ms": 0}, environ={})


def test_retry_max_below_min_is_rejected_naming_both_sources():
    with pytest.raises(
        ConfigError,
        match=r"retry_max_ms: must be at least retry_min_ms \(500\), got 100 "
        r"\(argument; retry_min_ms from environment variable AUTOSYNC_RETRY_MIN_MS\)",
    ):
        resolve({"path": "/d", "retry_max_ms": 100}, environ={"AUTOSYNC_RETRY_MIN_MS": "500"})


def test_zero_retry_min_is_rejected():
    with pytest.raises(ConfigError, match="retry_min_ms: must be greater than 0, got 0"):
        resolve({"path": "/d", "retry_min_ms": 0}, environ={})


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("data", "must be absolute"),
        ("/", "root directory"),
        ("", "absolute directory path"),
        (3, "got 3"),
    ],
)
def test_bad_paths_are_rejected(path, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"path": path}, environ={})


def test_path_is_normalized():
    assert resolve({"path": "//data/./x/../y/"}, environ={}).path == "/data/y"


def test_missing_path_says_where_to_put_it():
    with pytest.raises(ConfigError, match="AUTOSYNC_PATH"):
        resolve({}, environ={})


def test_boolean_from_environment():
    assert resolve({"path": "/d"}, environ={"AUTOSYNC_FLUSH_ON_HIDE": "off"}).flush_on_hide is False
    with pytest.raises(ConfigError, match="flush_on_hide: expected true or false, got 'maybe'"):
        resolve({"path": "/d"}, environ={"AUTOSYNC_FLUSH_ON_HIDE": "maybe"})


def test_invalid_toml_is_reported(tmp_path):
    f = write(tmp_path, "path = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve({}, environ={}, config_file=f)


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({}, environ={}, config_file=str(tmp_path / "nope.toml"))


def test_conflict_and_persistence_settings_from_every_source(tmp_path):
    s = resolve({"path": "/data"}, environ={})
    assert (s.keep_conflicts, s.persist) == (False, "auto")
    f = write(tmp_path, 'path = "/d"\nkeep_conflicts = true\npersist = false\n')
    s = resolve({}, environ={}, config_file=f)
    assert (s.keep_conflicts, s.persist) == (True, False)
    s = resolve({}, environ={"AUTOSYNC_PATH": "/d", "AUTOSYNC_PERSIST": "Auto"})
    assert s.persist == "auto"


def test_durable_fsync_from_every_source(tmp_path):
    assert resolve({"path": "/data"}, environ={}).durable_fsync is False
    f = write(tmp_path, 'path = "/d"\ndurable_fsync = true\n')
    assert resolve({}, environ={}, config_file=f).durable_fsync is True
    s = resolve({}, environ={"AUTOSYNC_PATH": "/d", "AUTOSYNC_DURABLE_FSYNC": "yes"})
    assert (s.durable_fsync, s.sources["durable_fsync"]) == (
        True,
        "environment variable AUTOSYNC_DURABLE_FSYNC",
    )
    with pytest.raises(ConfigError, match="durable_fsync"):
        resolve({"path": "/d", "durable_fsync": "often"}, environ={})


def test_bad_persist_value_names_the_choices():
    with pytest.raises(
        ConfigError, match=r"persist: expected true, false or 'auto', got 'sometimes'"
    ):
        resolve({"path": "/d", "persist": "sometimes"}, environ={})
