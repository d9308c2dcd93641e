"""``scs demo`` end to end: a real process builds the city, prints its keys and serves them.

The process is started as a user starts it, its one JSON line read from stdout, and every
role's key tried over real HTTP, each where it belongs and where it does not.
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.test_cli import ok, out, said, scs, scs_process

CITY = ("--people", "300", "--organisations", "40", "--institutions", "3")
#: Building the small city and starting the server, on a slow shared machine.
STARTUP = 120.0


@dataclass
class Demo:
    printed: dict[str, Any]
    client: httpx.Client
    stderr: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.printed['keys'][role]}"}


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints on stdout, or a failure naming why there is none."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        pytest.fail(f"scs demo printed nothing within {timeout:.0f} s")
    return process.stdout.readline()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    stderr = tmp_path / "stderr.txt"
    command, env = scs_process()
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [*command, "demo", "--db", url, "--port", "0", *CITY],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
    try:
        line = read_line(process, STARTUP)
        assert line, f"scs demo ended ({process.poll()}): {stderr.read_text()}"
        printed = orjson.loads(line)
        with httpx.Client(base_url=printed["url"], timeout=30) as client:
            yield Demo(printed, client, stderr)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, stderr.read_text()
        assert process.stdout is not None and process.stdout.read() == ""  # one line, no more
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    again = out(ok("demo", "--db", url, *CITY, "--no-serve"))
    assert again["already_built"] is True and again["city"]["people"] == 300


def test_the_demo_prints_a_key_per_role_and_serves_them(demo: Demo) -> None:
    printed = demo.printed
    assert set(printed["keys"]) == {"admin", "provider", "consumer", "subject", "auditor"}
    assert printed["url"].startswith("http://127.0.0.1:") and not printed["url"].endswith(":0")
    subject, organisation = printed["subject"], printed["organisation"]
    assert len(subject) == 18 and len(organisation) == 18
    said = " ".join(demo.stderr.read_text().split())
    assert printed["url"] in said and subject in said
    assert all(token in said for token in printed["keys"].values())

    fine = {
        "provider": printed["provider"],
        "ref": "DEMO-T-1",
        "subject": {"kind": "person", "id": subject},
        "type": "traffic.fine_le_500",
        "occurred_on": "2026-11-01",
        "amount": 200,
        "legal_basis": "Road Traffic Safety Law art. 90",
    }
    submitted = demo.client.post("/v1/records", json=fine, headers=demo.auth("provider"))
    assert submitted.status_code == 200 and submitted.json()["accepted"] == 1, submitted.text

    query = {"subject": subject, "measure": "spc.flights", "purpose": "travel_booking"}
    checked = demo.client.get("/v1/checks", params=query, headers=demo.auth("consumer"))
    assert checked.status_code == 200 and isinstance(checked.json()["applies"], bool)

    report = demo.client.get("/v1/me/report", headers=demo.auth("subject"))
    assert report.status_code == 200
    assert any(r["ref"] == "DEMO-T-1" for r in report.json()["records"])
    log = demo.client.get("/v1/me/access-log", headers=demo.auth("subject")).json()
    assert any(
        e["role"] == "consumer" and e["action"] == "check" and e["purpose"] == "travel_booking"
        for e in log["entries"]
    )

    public = demo.client.get(f"/v1/organisations/{organisation}")
    assert public.status_code == 200 and public.json()["uscc"] == organisation
    home = demo.client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert demo.client.get("/v1/audit", headers=demo.auth("auditor")).status_code == 200
    assert demo.client.get("/v1/operator/overview", headers=demo.auth("admin")).status_code == 200


def test_the_demo_keys_are_refused_outside_their_role(demo: Demo) -> None:
    subject = demo.printed["subject"]
    check = f"/v1/checks?subject={subject}&measure=spc.flights&purpose=travel_booking"
    refusals = [
        ("GET", check, "provider", 403),
        ("GET", check, "subject", 403),
        ("GET", check, None, 401),
        ("POST", "/v1/records", "consumer", 403),
        ("POST", "/v1/records", "admin", 403),
        ("GET", "/v1/audit", "subject", 403),
        ("GET", "/v1/audit", "consumer", 403),
        ("GET", "/v1/me/report", "auditor", 403),
        ("GET", "/v1/me/access-log", "provider", 403),
        ("GET", "/v1/operator/overview", "consumer", 403),
        ("GET", f"/v1/subjects/{subject}/report", None, 401),
    ]
    for method, path, role, status in refusals:
        headers = demo.auth(role) if role else {}
        body = {"json": {}} if method == "POST" else {}
        answer = demo.client.request(method, path, headers=headers, **body)
        assert answer.status_code == status, (method, path, role, answer.text)
        assert answer.json()["code"] in {"wrong_role", "key_required"}


def test_a_busy_port_is_one_error_line_naming_the_way_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    ok("demo", "--db", url, *CITY, "--no-serve")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = scs("serve", "--db", url, "--port", taken.getsockname()[1])
    assert busy.exit_code == 2, said(busy)
    assert "cannot listen on 127.0.0.1:" in said(busy) and "0 picks a free one" in said(busy)
