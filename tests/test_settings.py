"""One settings object: every GREYWATCH_* variable read, validated and resolved in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler import paths
from crawler.sources import default_sources_path, demo_base
from pipelines.errors import ConfigError
from pipelines.settings import build_settings, reload_settings, settings
from storage import db

HOME = Path.home()


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({}, "home", HOME / ".local/share/greywatch"),
        ({"GREYWATCH_HOME": "~/gw"}, "home", HOME / "gw"),
        ({"GREYWATCH_HOME": "  "}, "home", HOME / ".local/share/greywatch"),
        ({"GREYWATCH_SOURCES": "~/s.yaml"}, "sources", HOME / "s.yaml"),
        ({"GREYWATCH_LEXICON": "/etc/lex.yaml"}, "lexicon", Path("/etc/lex.yaml")),
        ({}, "download_timeout", 30),
        ({"GREYWATCH_DOWNLOAD_TIMEOUT": "5"}, "download_timeout", 5),
        ({"GREYWATCH_LOG_LEVEL": "warning"}, "log_level", "WARNING"),
        ({"GREYWATCH_ANALYSIS_WORKERS": "0"}, "analysis_workers", 0),
        ({"GREYWATCH_DEMO_URL": "http://127.0.0.1:9/"}, "demo_url", "http://127.0.0.1:9"),
        ({}, "max_doc_mb", 5.0),
        ({"GREYWATCH_MAX_DOC_MB": "0.5"}, "max_doc_mb", 0.5),
        ({"GREYWATCH_DATABASE_URL": ""}, "database_url", None),
    ],
)
def test_values(env, field, expected):
    assert getattr(build_settings(env), field) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GREYWATCH_DOWNLOAD_TIMEOUT", "0"),
        ("GREYWATCH_DOWNLOAD_TIMEOUT", "1.5"),
        ("GREYWATCH_ANALYSIS_WORKERS", "two"),
        ("GREYWATCH_MAX_DOC_MB", "-3"),
        ("GREYWATCH_MAX_DOC_MB", "inf"),
        ("GREYWATCH_LOG_LEVEL", "chatty"),
        ("GREYWATCH_DEMO_URL", "ftp://127.0.0.1"),
        ("GREYWATCH_DEMO_URL", "http://127.0.0.1:port"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        build_settings({name: value})
    assert str(err.value).startswith(f"{name}: {value!r} is not ")
    assert err.value.hint == f"fix or unset {name}"


def test_home_is_resolved_one_way_everywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("GREYWATCH_HOME", "~/gw-home")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GREYWATCH_DATABASE_URL", raising=False)
    reload_settings()
    assert db.data_dir() == paths.data_dir() == tmp_path / "gw-home"
    assert db.database_url() == f"sqlite:///{tmp_path}/gw-home/greywatch.db"
    assert paths.screenshots_dir() == tmp_path / "gw-home" / "screenshots"


def test_settings_follow_the_environment_and_are_cached(monkeypatch):
    monkeypatch.setenv("GREYWATCH_DEMO_URL", "http://127.0.0.1:7001")
    monkeypatch.setenv("GREYWATCH_SOURCES", "/srv/sources.yaml")
    first = settings()
    assert settings() is first  # built once for this environment
    assert demo_base() == "http://127.0.0.1:7001"
    assert default_sources_path() == Path("/srv/sources.yaml")
    monkeypatch.setenv("GREYWATCH_DEMO_URL", "http://127.0.0.1:7002")
    assert demo_base() == "http://127.0.0.1:7002"
    assert reload_settings() is not first
