"""jupyterhub_config.d/lc_wrapper.py: loaded by traitlets, it adds the three lc_wrapper
variables to the spawner environment and keeps every variable other files set."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import Dict
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader

from cwh.setup import (
    JupyterHubConfigError,
    LcWrapperEnvironment,
    render_lc_wrapper_py,
)

WANTED = {
    "lc_wrapper_fluentd_host": "172.30.2.100",
    "lc_wrapper_fluentd_port": "24224",
    "lc_wrapper_fluentd_tag": "cwh.lc_wrapper",
}


class Spawner(Configurable):
    """Stands for JupyterHub's Spawner: the same trait type and a class default."""

    environment = Dict(default_value={"JUPYTERHUB_DEFAULT": "kept"}).tag(config=True)


class SwarmSpawner(Spawner):
    pass


def _settings(**changes: object) -> LcWrapperEnvironment:
    values: dict[str, object] = {
        "fluentd_host": "172.30.2.100",
        "fluentd_port": 24224,
        "fluentd_tag": "cwh.lc_wrapper",
    }
    values.update(changes)
    return LcWrapperEnvironment(**values)  # type: ignore[arg-type]


def _load(directory: Path, main_text: str, settings: LcWrapperEnvironment) -> Spawner:
    """Load a hub config that sources config.d files the way CoursewareHub's does."""
    (directory / "lc_wrapper.py").write_text(render_lc_wrapper_py(settings), encoding="utf-8")
    (directory / "jupyterhub_config.py").write_text(main_text, encoding="utf-8")
    loader = PyFileConfigLoader("jupyterhub_config.py", path=str(directory))
    return SwarmSpawner(config=loader.load_config())


def test_other_environment_entries_survive(tmp_path: Path) -> None:
    main = (
        "c.Spawner.environment = {'CULL_SERVER': 'yes', 'lc_wrapper_fluentd_tag': 'old'}\n"
        "load_subconfig('lc_wrapper.py')\n"
        "c.Spawner.environment['LATER'] = '1'\n"
    )
    spawner = _load(tmp_path, main, _settings())
    assert spawner.environment == {"CULL_SERVER": "yes", "LATER": "1", **WANTED}


def test_works_when_nothing_set_the_environment_before(tmp_path: Path) -> None:
    spawner = _load(tmp_path, "load_subconfig('lc_wrapper.py')\n", _settings())
    assert spawner.environment == {"JUPYTERHUB_DEFAULT": "kept", **WANTED}


def test_works_when_executed_directly_in_the_main_config(tmp_path: Path) -> None:
    main = "c.Spawner.environment = {'A': '1'}\n" + render_lc_wrapper_py(_settings())
    spawner = _load(tmp_path, main, _settings())
    assert spawner.environment == {"A": "1", **WANTED}


def test_spawner_section_can_name_the_spawner_class(tmp_path: Path) -> None:
    main = "c.SwarmSpawner.environment = {'B': '2'}\nload_subconfig('lc_wrapper.py')\n"
    spawner = _load(tmp_path, main, _settings(spawner_section="SwarmSpawner"))
    assert spawner.environment == {"B": "2", **WANTED}


def test_values_are_string_literals_that_cannot_break_out() -> None:
    text = render_lc_wrapper_py(_settings(fluentd_host="fluentd.example.org"))
    assert '"lc_wrapper_fluentd_host": "fluentd.example.org",' in text
    assert '"lc_wrapper_fluentd_port": "24224",' in text
    compile(text, "lc_wrapper.py", "exec")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fluentd_host": "0.0.0.0"}, "not reachable"),
        ({"fluentd_host": "127.0.0.1"}, "not reachable"),
        ({"fluentd_host": 'host"); import os; ('}, "neither an IP address nor a host name"),
        ({"fluentd_port": 0}, "outside 1-65535"),
        ({"fluentd_tag": "cwh.*"}, "not a valid tag"),
        ({"spawner_section": "Spawner.x"}, "not a Python class name"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(JupyterHubConfigError, match=message):
        render_lc_wrapper_py(_settings(**changes))
