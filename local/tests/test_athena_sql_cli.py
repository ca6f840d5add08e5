"""`todo-insights sql`: where it finds the lake, its three output formats, and its error exits."""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from todo_contracts.lake_layout import GOLD_BUSINESS_KPIS
from todo_local.commands import sql_cmd
from todo_local.testing.iceberg_rows import append_rows

SNAPSHOT = datetime(2026, 11, 23, 12, 0)
KPIS = {"total_users": 3.0, "total_tasks": 12.0, "completion_rate": 41.5}


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="todo-insights")
    sql_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sql", *argv])
    code: int = args.func(args)
    return code


def error_output(capsys: pytest.CaptureFixture[str], code: int, expected: int) -> str:
    """A failed run's stderr, once its exit code is checked and its stdout found empty (an error
    prints no result). Whitespace is folded: the console wraps long lines (and paths) anywhere."""
    captured = capsys.readouterr()
    assert code == expected
    assert captured.out == ""
    return " ".join(captured.err.split())


def write_kpis(lake: Path, kpis: dict[str, float]) -> None:
    at = SNAPSHOT.replace(tzinfo=UTC)
    rows = [{"snapshot_at": at, "metric": name, "value": value} for name, value in kpis.items()]
    append_rows(lake, GOLD_BUSINESS_KPIS, rows)


def write_endpoints(directory: Path, lake_dir: Path, control_url: str) -> None:
    endpoints = {
        "api_url": "http://127.0.0.1:1",
        "aws_endpoint_url": "http://127.0.0.1:1",
        "region": "us-east-1",
        "user_pool_id": "pool",
        "user_pool_client_id": "client",
        "table_name": "todo",
        "lake_dir": str(lake_dir),
        "control_url": control_url,
        "logs_dir": str(directory / "logs"),
        "dlq_dir": str(directory / "dlq"),
    }
    (directory / "endpoints.json").write_text(json.dumps(endpoints), encoding="utf-8")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A stopped platform's folder: no endpoints, a lake with one KPI snapshot."""
    write_kpis(tmp_path / "lake", KPIS)
    return tmp_path


@pytest.fixture
def control_url() -> Iterator[str]:
    """A control endpoint that answers /health like a running platform."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


KPI_SQL = "SELECT metric, value FROM gold_business_kpis ORDER BY metric"


def test_table_format_prints_a_table_with_a_row_count(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(KPI_SQL, "--dir", str(state_dir))

    out = capsys.readouterr().out
    assert code == 0
    assert "metric" in out
    assert "value" in out
    for metric, value in KPIS.items():
        assert metric in out
        assert str(value) in out
    assert "3 rows" in out


def test_csv_format_has_a_header_then_one_line_per_row(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(KPI_SQL, "--dir", str(state_dir), "--format", "csv")

    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 0
    assert rows == [["metric", "value"], *sorted([m, str(v)] for m, v in KPIS.items())]


def test_json_format_is_an_array_of_objects_with_iso_timestamps(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli("--query", "kpi_snapshot", "--dir", str(state_dir), "--format", "json")

    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert records == [
        {"metric": m, "value": v, "snapshot_at": SNAPSHOT.isoformat()} for m, v in sorted(KPIS.items())
    ]


def test_json_format_turns_dates_decimals_and_nulls_into_json(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT DATE '2024-01-31' + INTERVAL '1' DAY AS d, round(100.0 * 1 / 3, 2) AS pct, NULL AS nothing"

    code = cli(sql, "--dir", str(state_dir), "--format", "json")

    assert code == 0
    assert json.loads(capsys.readouterr().out) == [{"d": "2024-02-01", "pct": 33.33, "nothing": None}]


def test_named_query_table_shows_its_title(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli("--query", "kpi_snapshot", "--dir", str(state_dir))

    assert code == 0
    assert "Business KPIs, latest snapshot" in capsys.readouterr().out


def test_sql_from_a_file(state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "q.sql"
    path.write_text("SELECT count(*) AS n FROM gold_business_kpis;\n", encoding="utf-8")

    code = cli("--file", str(path), "--dir", str(state_dir), "--format", "csv")

    assert code == 0
    assert capsys.readouterr().out == f"n\n{len(KPIS)}\n"


def test_list_prints_every_named_query(capsys: pytest.CaptureFixture[str]) -> None:
    from todo_etl.queries import load_queries

    code = cli("--list")

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split("\t")[0] for line in lines] == [q.name for q in load_queries()]


def test_a_running_platform_is_queried_through_its_endpoints(
    tmp_path: Path, control_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    write_kpis(state / "lake", {"total_users": 1.0})  # the folder's own lake must NOT be used
    elsewhere = tmp_path / "elsewhere"
    write_kpis(elsewhere, {"total_users": 99.0})
    write_endpoints(state, elsewhere, control_url)

    code = cli("SELECT value FROM gold_business_kpis", "--dir", str(state), "--format", "csv")

    assert code == 0
    assert capsys.readouterr().out == "value\n99.0\n"


def test_a_stopped_platform_falls_back_to_its_lake_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_kpis(tmp_path / "lake", {"total_users": 7.0})
    write_endpoints(tmp_path, tmp_path / "gone", closed_port_url())

    code = cli("SELECT value FROM gold_business_kpis", "--dir", str(tmp_path), "--format", "csv")

    assert code == 0
    assert capsys.readouterr().out == "value\n7.0\n"


def test_no_platform_and_no_lake_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_output(capsys, cli("SELECT 1", "--dir", str(tmp_path / "empty")), 2)

    assert "No lake to query" in err
    assert "local up" in err


def test_stopped_platform_without_a_lake_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_endpoints(tmp_path, tmp_path / "lake", closed_port_url())

    err = error_output(capsys, cli("SELECT 1", "--dir", str(tmp_path)), 2)

    assert "not running" in err


def test_a_failing_query_exits_1_and_shows_the_translated_sql(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_output(
        capsys, cli("SELECT missing_column FROM gold_business_kpis", "--dir", str(state_dir)), 1
    )

    assert "query failed" in err
    assert "translated to DuckDB" in err


def test_an_unknown_named_query_exits_2_listing_the_known_ones(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_output(capsys, cli("--query", "no_such_query", "--dir", str(state_dir)), 2)

    assert "no_such_query" in err
    assert "kpi_snapshot" in err


def test_an_unreadable_file_exits_2(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_output(capsys, cli("--file", str(tmp_path / "absent.sql"), "--dir", str(state_dir)), 2)

    assert "Cannot read" in err


@pytest.mark.parametrize(
    "argv", [[], ["SELECT 1", "--query", "kpi_snapshot"], ["SELECT 1", "--format", "xml"]]
)
def test_bad_arguments_are_refused_by_the_parser(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli(*argv)

    assert caught.value.code == 2
