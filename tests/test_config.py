"""Settings: defaults, environment, config.cfg and TOML files, options, precedence, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.logger import capturedLogs
from twisted.python.usage import UsageError

from chinook_svc.config import DEFAULT_LISTEN, Settings, load_settings, read_cfg
from chinook_svc.options import Options

#: The flask-restless article's config.cfg, as the article writes it.
ARTICLE_CFG = """\
# Flask settings
DEBUG = True

# Flask-SQLAlchemy settings
SQLALCHEMY_DATABASE_URI = 'sqlite:///chinook.db'
"""


def parse(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    """Settings from a twistd chinook command line and an environment."""
    options = Options(environ=environ or {})
    options.parseOptions(argv)
    return options.settings


def test_defaults() -> None:
    """With nothing given: localhost:8080, the embedded sample, pool-sized threads, no debug."""
    settings = parse([])
    assert settings == Settings()
    assert settings.listen == DEFAULT_LISTEN == "tcp:8080:interface=127.0.0.1"
    assert settings.db_url is None
    assert settings.threads is None
    assert settings.debug is False
    assert settings.table("aggregate") == {}


def test_environment() -> None:
    """Every CHINOOK_* variable sets its setting."""
    settings = parse(
        [],
        {
            "CHINOOK_LISTEN": "tcp:9000",
            "CHINOOK_DB": "sqlite:////srv/chinook.db",
            "CHINOOK_THREADS": "3",
            "CHINOOK_DATA_DIR": "/srv/data",
            "CHINOOK_DEBUG": "yes",
            "CHINOOK_SHUTDOWN_TIMEOUT": "2.5",
        },
    )
    assert settings.listen == "tcp:9000"
    assert settings.db_url == "sqlite:////srv/chinook.db"
    assert settings.threads == 3
    assert settings.data_dir == Path("/srv/data")
    assert settings.debug is True
    assert settings.shutdown_timeout == 2.5


def test_options() -> None:
    """Every command-line option sets its setting."""
    settings = parse(
        [
            "--listen",
            "tcp:9001",
            "--db",
            "sqlite://",
            "--threads",
            "2",
            "--data-dir",
            "/d",
            "--debug",
        ]
    )
    assert (settings.listen, settings.db_url, settings.threads) == ("tcp:9001", "sqlite://", 2)
    assert (settings.data_dir, settings.debug) == (Path("/d"), True)


def test_article_config_cfg(tmp_path: Path) -> None:
    """The article's config.cfg sets the database and DEBUG; relative paths are the file's."""
    cfg = tmp_path / "config.cfg"
    cfg.write_text(ARTICLE_CFG)
    settings = parse(["--config", str(cfg)])
    assert settings.db_url == f"sqlite:///{tmp_path.resolve()}/chinook.db"
    assert settings.debug is True
    assert settings.config_file == cfg


def test_cfg_is_never_executed(tmp_path: Path) -> None:
    """A config.cfg with code in it is refused, not run."""
    marker = tmp_path / "ran"
    cfg = tmp_path / "config.cfg"
    cfg.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    with pytest.raises(UsageError, match="line 1: only KEY = value lines"):
        parse(["--config", str(cfg)])
    cfg.write_text(f"DEBUG = __import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(UsageError, match="line 1: the value of DEBUG must be a Python literal"):
        parse(["--config", str(cfg)])
    assert not marker.exists()


def test_cfg_values_are_literals() -> None:
    """config.cfg values may be any Python literal, with comments and several lines."""
    assert read_cfg("A = [1,\n  2]  # two\nB = {'x': None}\n", "t.cfg") == {
        "A": [1, 2],
        "B": {"x": None},
    }


def test_toml(tmp_path: Path) -> None:
    """A .toml file sets listen, db, threads, debug; its tables are kept for later features."""
    path = tmp_path / "chinook.toml"
    path.write_text(
        'listen = "tcp:9002"\ndb = "sqlite:///music.db"\nthreads = 4\ndebug = true\n'
        '[aggregate]\nupstreams = ["http://a", "http://b"]\ntimeout = 2.0\n'
    )
    settings = parse(["--config", str(path)])
    assert settings.listen == "tcp:9002"
    assert settings.db_url == f"sqlite:///{tmp_path.resolve()}/music.db"
    assert (settings.threads, settings.debug) == (4, True)
    assert settings.table("aggregate") == {"upstreams": ["http://a", "http://b"], "timeout": 2.0}
    with pytest.raises(TypeError):
        settings.table("aggregate")["timeout"] = 1  # type: ignore[index]


def test_precedence_options_over_environment_over_file(tmp_path: Path) -> None:
    """Options beat CHINOOK_* variables, which beat the config file, which beats defaults."""
    path = tmp_path / "c.toml"
    path.write_text('listen = "tcp:1"\ndb = "sqlite:////file.db"\nthreads = 7\n')
    environ = {
        "CHINOOK_CONFIG": str(path),
        "CHINOOK_LISTEN": "tcp:2",
        "CHINOOK_DB": "sqlite:////env.db",
    }
    settings = parse(["--db", "sqlite:////option.db"], environ)
    assert settings.db_url == "sqlite:////option.db"  # option
    assert settings.listen == "tcp:2"  # environment
    assert settings.threads == 7  # file
    assert settings.debug is False  # default


def test_config_option_beats_config_variable(tmp_path: Path) -> None:
    """--config names the file even when CHINOOK_CONFIG names another."""
    (tmp_path / "a.toml").write_text("threads = 1\n")
    (tmp_path / "b.toml").write_text("threads = 2\n")
    settings = parse(
        ["--config", str(tmp_path / "b.toml")], {"CHINOOK_CONFIG": str(tmp_path / "a.toml")}
    )
    assert settings.threads == 2


def test_absent_debug_flag_keeps_environment() -> None:
    """Not passing --debug leaves CHINOOK_DEBUG=1 in force."""
    assert parse([], {"CHINOOK_DEBUG": "1"}).debug is True


def test_unknown_keys_warn(tmp_path: Path) -> None:
    """Unknown config keys are logged as warnings and ignored."""
    cfg = tmp_path / "config.cfg"
    cfg.write_text(ARTICLE_CFG + "SQLALCHEMY_TRACK_MODIFICATIONS = False\n")
    with capturedLogs() as events:
        settings = parse(["--config", str(cfg)])
    assert settings.debug is True
    warnings = [e for e in events if e["log_level"].name == "warn"]
    assert [e["key"] for e in warnings] == ["SQLALCHEMY_TRACK_MODIFICATIONS"]


def test_edge_settings() -> None:
    """Request deadlines and the listen backlog: options, environment, defaults."""
    assert (Settings().head_timeout, Settings().body_timeout, Settings().listen_backlog) == (
        15.0,
        30.0,
        1024,
    )
    settings = parse(
        ["--head-timeout", "2.5", "--listen-backlog", "2048"], {"CHINOOK_BODY_TIMEOUT": "7"}
    )
    assert (settings.head_timeout, settings.body_timeout, settings.listen_backlog) == (
        2.5,
        7.0,
        2048,
    )


def test_aggregate_bounds(tmp_path: Path) -> None:
    """The fan-out's bounds: unset by default (the [aggregate] table's, else the built-in
    ones), then from a config.cfg key, its environment variable, its option."""
    bounds = ("aggregate_max_in_flight", "aggregate_per_client", "aggregate_per_host")
    assert [getattr(Settings(), name) for name in bounds] == [None, None, None]
    cfg = tmp_path / "config.cfg"
    cfg.write_text("AGGREGATE_MAX_IN_FLIGHT = 300\nAGGREGATE_PER_CLIENT = 30\n")
    settings = parse(
        ["--config", str(cfg), "--aggregate-per-client", "40"],
        {"CHINOOK_AGGREGATE_PER_HOST": "6", "CHINOOK_AGGREGATE_PER_CLIENT": "35"},
    )
    assert [getattr(settings, name) for name in bounds] == [300, 40, 6]


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--head-timeout", "0"], {}, "bad value '0' for head_timeout"),
        ([], {"CHINOOK_BODY_TIMEOUT": "soon"}, "bad value 'soon' for body_timeout"),
        (["--listen-backlog", "0"], {}, "bad value '0' for listen_backlog"),
        (["--listen-backlog", "70000"], {}, "bad value '70000' for listen_backlog"),
        (["--threads", "0"], {}, "--threads: bad value '0' for threads"),
        (["--threads", "many"], {}, "bad value 'many' for threads"),
        ([], {"CHINOOK_THREADS": "-1"}, "CHINOOK_THREADS: bad value '-1'"),
        ([], {"CHINOOK_DEBUG": "maybe"}, "CHINOOK_DEBUG: bad value 'maybe' for debug"),
        (["--db", "not a url"], {}, "--db: bad value 'not a url' for db_url"),
        ([], {"CHINOOK_SHUTDOWN_TIMEOUT": "0"}, "bad value '0' for shutdown_timeout"),
        (["--listen", " "], {}, "bad value ' ' for listen"),
        (["--aggregate-max-in-flight", "0"], {}, "bad value '0' for aggregate_max_in_flight"),
        ([], {"CHINOOK_AGGREGATE_PER_HOST": "x"}, "bad value 'x' for aggregate_per_host"),
    ],
)
def test_bad_values(argv: list[str], environ: dict[str, str], message: str) -> None:
    """A bad value is a UsageError that names its source, setting and value."""
    with pytest.raises(UsageError) as caught:
        parse(argv, environ)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.toml", "threads = true\n", "threads: bad value True for threads"),
        ("c.toml", "threads = [\n", "not valid TOML"),
        ("config.cfg", "DEBUG = 'perhaps'\n", "bad value 'perhaps' for debug"),
        ("config.cfg", "DEBUG =\n", "line 1: not a KEY = value line"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    """Bad config file contents are UsageErrors naming the file."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        parse(["--config", str(path)])
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    """A config file that cannot be read is a UsageError."""
    with pytest.raises(UsageError, match="cannot read config file"):
        load_settings({"config": str(tmp_path / "nope.cfg")}, {})


def test_cors_origins_from_options_environment_and_files(tmp_path: Path) -> None:
    """--cors-origin repeats; CHINOOK_CORS_ORIGINS and the files take lists; origins normalised."""
    settings = parse(["--cors-origin", "https://App.example/", "--cors-origin", "*"])
    assert settings.cors_origins == ("https://app.example", "*")
    environ = {"CHINOOK_CORS_ORIGINS": "http://a.example:80, http://[::1]:8081"}
    assert parse([], environ).cors_origins == ("http://a.example", "http://[::1]:8081")
    toml = tmp_path / "c.toml"
    toml.write_text('cors_origins = ["https://b.example:8443"]\n')
    assert parse(["--config", str(toml)]).cors_origins == ("https://b.example:8443",)
    cfg = tmp_path / "config.cfg"
    cfg.write_text("CORS_ORIGINS = ['http://c.example']\n")
    assert parse(["--config", str(cfg)]).cors_origins == ("http://c.example",)
    assert parse([]).cors_origins == ()


@pytest.mark.parametrize(
    "origin", ["null", "ftp://x.example", "http://x.example/path", "x.example"]
)
def test_a_cors_origin_must_be_an_origin(origin: str) -> None:
    """Anything but scheme://host[:port] or * is refused at start-up ("null" too)."""
    with pytest.raises(UsageError, match="cors_origins"):
        parse(["--cors-origin", origin])


def test_database_load_and_file_settings() -> None:
    """--queue-limit, --heavy-threads and --sqlite-wal, and their variables and TOML keys."""
    assert (Settings().queue_limit, Settings().heavy_threads, Settings().sqlite_wal) == (
        None,
        None,
        False,
    )
    given = parse(["--queue-limit", "40", "--heavy-threads", "2", "--sqlite-wal"])
    assert (given.queue_limit, given.heavy_threads, given.sqlite_wal) == (40, 2, True)
    environ = {"CHINOOK_QUEUE_LIMIT": "7", "CHINOOK_HEAVY_THREADS": "3", "CHINOOK_SQLITE_WAL": "1"}
    from_env = parse([], environ)
    assert (from_env.queue_limit, from_env.heavy_threads, from_env.sqlite_wal) == (7, 3, True)
    with pytest.raises(UsageError, match="queue_limit"):
        parse(["--queue-limit", "0"])


def test_database_settings_in_toml(tmp_path: Path) -> None:
    """The same settings from a TOML file."""
    path = tmp_path / "chinook.toml"
    path.write_text("queue_limit = 12\nheavy_threads = 1\nsqlite_wal = true\n")
    settings = parse(["--config", str(path)])
    assert (settings.queue_limit, settings.heavy_threads, settings.sqlite_wal) == (12, 1, True)


def test_metrics_settings(tmp_path: Path) -> None:
    """Metrics are on by default, off by ``--metrics off`` or the environment; an admin endpoint."""
    assert parse([]).metrics is True
    assert parse([]).metrics_listen is None
    assert parse(["--metrics", "off"]).metrics is False
    assert parse([], {"CHINOOK_METRICS": "false"}).metrics is False
    listen = "tcp:9100:interface=127.0.0.1"
    assert parse(["--metrics-listen", listen]).metrics_listen == listen
    assert parse([], {"CHINOOK_METRICS_LISTEN": listen}).metrics_listen == listen
    toml = tmp_path / "m.toml"
    toml.write_text(f'metrics = false\nmetrics_listen = "{listen}"\n')
    settings = parse(["--config", str(toml)])
    assert (settings.metrics, settings.metrics_listen) == (False, listen)
    with pytest.raises(UsageError, match="metrics"):
        parse(["--metrics", "maybe"])
