"""fluentd's lc_wrapper.conf: golden files, structure, the exact delivery command run as
fluentd runs it, and the transactional install (secret file, dry run, reload, restore)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from cwh.setup import (
    API_KEY_ENV,
    PASSWORD_ENV,
    ElasticsearchOutput,
    EnrichCommand,
    EsAuth,
    FluentdConfigError,
    FluentdSettings,
    normalise_es_url,
    quote,
    render_env_file,
    render_lc_wrapper_conf,
)
from tasks.fluentd import FluentdSetupError, apply_files, plan_files, render_files
from tests.enrich_support import assert_matches_expected, build_index, expected_documents
from tests.enrich_support import forward_records as load_forward_records

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CWH_UPDATE_GOLDEN") == "1"
PYTHON = "/opt/cwh-flows/.venv/bin/python"
SECRET = "pa$$ w'o\"rd`\\x#{1}"


def _basic_auth_settings() -> FluentdSettings:
    return FluentdSettings(
        bind_address="172.30.2.100",
        port=24224,
        tag="cwh.lc_wrapper",
        enrich=EnrichCommand(
            python=PYTHON,
            index="/var/lib/lc-wrapper/meme.csv",
            passwd="/etc/passwd",
            homes_dir="/jupyter/users",
            result_jsonpaths=('$.content.data["text/plain"]', "$.content.ename"),
        ),
        elasticsearch=ElasticsearchOutput(
            urls=("https://es.example.org",), auth=EsAuth.BASIC, username="fluentd"
        ),
        buffer_dir="/var/lib/fluentd/buffer/cwh-lc-wrapper",
    )


def _api_key_settings() -> FluentdSettings:
    return FluentdSettings(
        bind_address="10.1.2.3",
        port=24225,
        tag="hub2.lcw",
        enrich=EnrichCommand(
            python=PYTHON,
            index="/srv/hub 2/meme.csv",
            passwd="/srv/hub2/passwd",
            homes_dir="/srv/hub2/users",
            home_prefix="/home",
            index_prefix="course2026",
            result_jsonpaths=("$['content']['data']['text/plain']", "$.content.ename"),
            zones=("PST=-08:00",),
        ),
        elasticsearch=ElasticsearchOutput(
            urls=("http://10.0.0.21:9200/es/", "http://[fd00::22]:9201"),
            auth=EsAuth.API_KEY,
            ca_file="/etc/ssl/cwh/ca.pem",
            request_timeout_s=60,
        ),
        buffer_dir="/srv/hub2/buffer/",
    )


# ---------------------------------------------------------------- a small fluentd reader


def _unquote(value: str) -> str:
    """A fluentd v1 value: single-quoted strings unescape ``\\'`` and ``\\\\`` only."""
    if value.startswith("'"):
        assert value.endswith("'"), value
        out, i, body = [], 0, value[1:-1]
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "'\\":
                out.append(body[i + 1])
                i += 2
            else:
                assert body[i] != "'", f"unescaped quote in {value}"
                out.append(body[i])
                i += 1
        return "".join(out)
    return value


def parse_fluentd(text: str) -> list[dict[str, Any]]:
    """Sections as ``{"name", "arg", "params", "children"}``; comments and blanks skipped."""
    root: dict[str, Any] = {"children": []}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("</"):
            closed = stack.pop()
            assert line == f"</{closed['name']}>", line
        elif line.startswith("<"):
            name, _, arg = line[1:-1].partition(" ")
            section = {"name": name, "arg": arg, "params": {}, "children": []}
            stack[-1]["children"].append(section)
            stack.append(section)
        else:
            key, _, value = line.partition(" ")
            assert key not in stack[-1]["params"], f"duplicate {key}"
            stack[-1]["params"][key] = _unquote(value.strip())
    assert len(stack) == 1, "unclosed section"
    return root["children"]


def _child(section: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in section["children"] if c["name"] == name]
    return found


# ---------------------------------------------------------------- golden files


@pytest.mark.parametrize(
    ("name", "settings"),
    [("basic-auth", _basic_auth_settings), ("api-key", _api_key_settings)],
)
def test_rendered_config_matches_golden_file(name: str, settings: Any) -> None:
    golden = GOLDEN / f"lc_wrapper.{name}.conf"
    text = render_lc_wrapper_conf(settings())
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        f"regenerate with CWH_UPDATE_GOLDEN=1 if the change to {golden.name} is intended"
    )


def test_structure_uses_core_plugins_and_commits_only_delivered_chunks() -> None:
    source, delivery = parse_fluentd(render_lc_wrapper_conf(_basic_auth_settings()))
    assert (source["name"], source["params"]["@type"]) == ("source", "forward")
    assert source["params"]["bind"] == "172.30.2.100"
    assert source["params"]["port"] == "24224"
    assert (delivery["arg"], delivery["params"]["@type"]) == ("cwh.lc_wrapper", "exec")
    assert _child(delivery, "format")["params"]["@type"] == "json"
    command = shlex.split(delivery["params"]["command"])
    assert command[-1] == "--chunk", "fluentd appends the chunk path after --chunk"
    assert command[command.index("--elasticsearch") + 1] == "https://es.example.org:443"
    assert command[command.index("--es-auth") + 1] == "basic"
    assert command[command.index("--es-username") + 1] == "fluentd"
    assert "password" not in delivery["params"]["command"].lower()
    buffer = _child(delivery, "buffer")["params"]
    assert buffer["@type"] == "file"
    assert buffer["retry_forever"] == "true"
    assert buffer["overflow_action"] == "block"
    assert buffer["path"] == "/var/lib/fluentd/buffer/cwh-lc-wrapper/delivery"
    timeout = int(delivery["params"]["command_timeout"].removesuffix("s"))
    assert int(buffer["delayed_commit_timeout"].removesuffix("s")) > timeout
    assert float(buffer["flush_thread_interval"]) < 1


def test_api_key_config_reads_the_key_from_the_environment() -> None:
    text = render_lc_wrapper_conf(_api_key_settings())
    command = shlex.split(parse_fluentd(text)[1]["params"]["command"])
    assert command[command.index("--es-auth") + 1] == "api_key"
    assert "--es-username" not in command
    urls = [command[i + 1] for i, arg in enumerate(command) if arg == "--elasticsearch"]
    assert urls == ["http://10.0.0.21:9200/es", "http://[fd00::22]:9201"]
    assert command[command.index("--es-ca-file") + 1] == "/etc/ssl/cwh/ca.pem"
    assert command[command.index("--stats-file") + 1].endswith("/delivery-stats.json")
    assert "None" not in text
    assert API_KEY_ENV not in text and PASSWORD_ENV not in text


def test_command_round_trips_quotes_and_spaces() -> None:
    settings = _api_key_settings()
    delivery = parse_fluentd(render_lc_wrapper_conf(settings))[1]
    assert shlex.split(delivery["params"]["command"]) == settings.delivery_argv()
    assert settings.delivery_argv()[: len(settings.enrich.argv())] == settings.enrich.argv()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://es:9200", "http://es:9200"),
        ("https://es.example.org", "https://es.example.org:443"),
        ("http://es/", "http://es:80"),
        ("https://es:9243/prefix/", "https://es:9243/prefix"),
    ],
)
def test_urls_always_get_an_explicit_port(url: str, expected: str) -> None:
    assert normalise_es_url(url) == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bind_address": "0.0.0.0"}, "every interface"),
        ({"bind_address": "manager"}, "private IP address"),
        ({"tag": "cwh.**"}, "fluentd tag"),
        ({"port": 70000}, "outside 1-65535"),
        ({"buffer_dir": "buffer"}, "absolute path"),
        ({"buffer_dir": "/var/lib/fluentd buffer"}, "unquoted"),
        ({"buffer_dir": "/var/lib/$(reboot)"}, "unquoted"),
        ({"log_file": "enrich.log"}, "absolute path"),
    ],
)
def test_unsafe_settings_are_refused(change: dict[str, Any], message: str) -> None:
    values = {**_basic_auth_settings().__dict__, **change}
    with pytest.raises(FluentdConfigError, match=message):
        render_lc_wrapper_conf(FluentdSettings(**values))


def test_urls_with_credentials_and_multiline_values_are_refused() -> None:
    with pytest.raises(FluentdConfigError, match="must not carry credentials"):
        normalise_es_url("https://user:pw@es:9200")
    with pytest.raises(FluentdConfigError, match="line break"):
        quote("a\nb")


# ---------------------------------------------------------------- the delivery, for real


def test_delivery_command_stores_fixture_records_as_fluentd_runs_it(
    lcwrapper_sample: Path, tmp_path: Path, es_url: str, es_client: Any, es_index_prefix: str
) -> None:
    """Run the command line exactly as written in the config, with a chunk as fluentd
    writes it appended, against the real Elasticsearch node: every record is stored, and
    running the same chunk again (fluentd's retry after a crash) adds nothing."""
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    settings = FluentdSettings(
        bind_address="10.0.0.5",
        port=24224,
        tag="cwh.lc_wrapper",
        enrich=EnrichCommand(
            python=sys.executable,
            index=str(index),
            passwd=str(lcwrapper_sample / "passwd"),
            homes_dir=str(lcwrapper_sample / "users"),
            index_prefix=es_index_prefix,
            result_jsonpaths=('$.content.data["text/plain"]', "$.content.ename"),
        ),
        elasticsearch=ElasticsearchOutput(urls=(es_url,)),
        buffer_dir=str(tmp_path / "buffer"),
        log_file=str(tmp_path / "log" / "enrich.log"),
        state_dir=str(tmp_path / "state"),
    )
    delivery = parse_fluentd(render_lc_wrapper_conf(settings))[1]
    records = [item["record"] for item in load_forward_records(lcwrapper_sample)]
    chunk = tmp_path / "buffer.q5f0c.log"
    chunk.write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records),
        encoding="utf-8",
    )
    for _ in range(2):
        done = subprocess.run(
            ["/bin/sh", "-c", f"{delivery['params']['command']} {chunk}"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    es_client.indices.refresh(index=f"{es_index_prefix}-*")
    hits = es_client.search(index=f"{es_index_prefix}-*", size=100)["hits"]["hits"]
    expected = expected_documents(lcwrapper_sample)
    assert len(hits) == len(expected) == len(records)
    stored = {hit["_source"]["path"]: hit["_source"] for hit in hits}
    for wanted in expected:
        assert_matches_expected(stored[wanted["path"]], wanted)
    stats = json.loads((tmp_path / "state" / "delivery-stats.json").read_text())
    assert (stats["chunks"], stats["stored"], stats["already_stored"]) == (2, 14, 14)
    assert "chunk buffer.q5f0c.log: 14 records" in (tmp_path / "log" / "enrich.log").read_text()


# ---------------------------------------------------------------- install transaction


def _recorder(log: Path, word: str) -> list[str]:
    code = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    return [sys.executable, "-c", code, str(log), word]


def _hub(tmp_path: Path, **changes: Any) -> CoursewareHub:
    etc = tmp_path / "etc"
    (etc / "fluentd" / "config.d").mkdir(parents=True, exist_ok=True)
    log = tmp_path / "commands.log"
    fields: dict[str, Any] = {
        "manager_address": "10.0.0.5",
        "fluentd_config_path": str(etc / "fluentd" / "config.d" / "lc_wrapper.conf"),
        "fluentd_env_file": str(etc / "fluentd" / "cwh-lc-wrapper.env"),
        "fluentd_systemd_dropin": str(etc / "systemd" / "fluentd.service.d" / "cwh.conf"),
        "fluentd_buffer_dir": str(tmp_path / "buffer"),
        "fluentd_binary": str(tmp_path / "no-fluentd-here"),
        "fluentd_reload_command": _recorder(log, "reload"),
        "fluentd_restart_command": _recorder(log, "restart"),
        "systemd_reload_command": _recorder(log, "daemon-reload"),
    }
    fields.update(changes)
    return CoursewareHub(**fields)


def _es() -> ElasticsearchConnection:
    return ElasticsearchConnection(
        urls=["http://127.0.0.1:9200"], username="fluentd", password=SECRET
    )


def _commands(tmp_path: Path) -> list[str]:
    log = tmp_path / "commands.log"
    return log.read_text().split() if log.exists() else []


def test_install_writes_secret_file_0600_and_converges(tmp_path: Path) -> None:
    hub, es = _hub(tmp_path), _es()
    files = render_files(hub, es)
    assert SECRET not in files.config_text and SECRET not in repr(files)
    plan = plan_files(files, hub)
    assert plan.action == "restart" and plan.dry_run_binary is None
    outcome = apply_files(files, plan, hub)
    assert outcome.dry_run.startswith("skipped")
    assert _commands(tmp_path) == ["daemon-reload", "restart"]
    env_file = Path(hub.fluentd_env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    read_back = subprocess.run(
        ["/bin/sh", "-c", f'. "{env_file}"; printf %s "${PASSWORD_ENV}"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert read_back == SECRET
    config = Path(hub.fluentd_config_path).read_text()
    assert SECRET not in config and config == files.config_text
    assert f"EnvironmentFile={env_file}" in Path(hub.fluentd_systemd_dropin or "").read_text()

    again = plan_files(render_files(hub, es), hub)
    assert again.action == "none" and not again.config.changed
    assert apply_files(files, again, hub).action == "none"
    assert _commands(tmp_path) == ["daemon-reload", "restart"]


def test_config_change_reloads_and_keeps_a_backup(tmp_path: Path) -> None:
    hub, es = _hub(tmp_path), _es()
    first = render_files(hub, es)
    apply_files(first, plan_files(first, hub), hub)
    moved = hub.model_copy(update={"fluentd_port": 24230})
    second = render_files(moved, es)
    plan = plan_files(second, moved)
    assert plan.action == "reload" and "-  port 24224" in plan.config.diff
    apply_files(second, plan, moved)
    assert _commands(tmp_path)[-1] == "reload"
    assert Path(hub.fluentd_config_path + ".bak").read_text() == first.config_text


def test_failed_dry_run_restores_every_file(tmp_path: Path) -> None:
    hub, es = _hub(tmp_path), _es()
    first = render_files(hub, es)
    apply_files(first, plan_files(first, hub), hub)
    fake_fluentd = tmp_path / "fluentd"
    fake_fluentd.write_text("#!/bin/sh\necho 'config error: unknown parameter' >&2\nexit 1\n")
    fake_fluentd.chmod(0o755)
    changed = hub.model_copy(update={"fluentd_port": 24231, "fluentd_binary": str(fake_fluentd)})
    new_es = ElasticsearchConnection(
        urls=["http://127.0.0.1:9200"], username="fluentd", password="another secret"
    )
    before = {
        path: Path(path).read_bytes() for path in (hub.fluentd_config_path, hub.fluentd_env_file)
    }
    second = render_files(changed, new_es)
    plan = plan_files(second, changed)
    assert plan.dry_run_binary == str(fake_fluentd)
    with pytest.raises(FluentdSetupError) as caught:
        apply_files(second, plan, changed)
    assert "dry run" in str(caught.value) and "unknown parameter" in str(caught.value)
    assert "another secret" not in str(caught.value)
    for path, content in before.items():
        assert Path(path).read_bytes() == content
    assert stat.S_IMODE(Path(hub.fluentd_env_file).stat().st_mode) == 0o600
    assert not Path(hub.fluentd_config_path + ".bak").exists()
    assert _commands(tmp_path) == ["daemon-reload", "restart"]


def test_failed_reload_restores_the_previous_config(tmp_path: Path) -> None:
    hub = _hub(tmp_path, fluentd_reload_command=["false"])
    es = _es()
    first = render_files(hub, es)
    apply_files(first, plan_files(first, hub), hub)
    changed = hub.model_copy(update={"fluentd_tag": "cwh.other"})
    second = render_files(changed, es)
    with pytest.raises(FluentdSetupError, match="reload: exit status 1"):
        apply_files(second, plan_files(second, changed), changed)
    assert Path(hub.fluentd_config_path).read_text() == first.config_text


def test_env_file_escapes_for_systemd_and_sh() -> None:
    text = render_env_file(password='a"b$c`d\\e')
    assert f'{PASSWORD_ENV}="a\\"b\\$c\\`d\\\\e"' in text
    with pytest.raises(FluentdConfigError, match="line break"):
        render_env_file(password="two\nlines")
