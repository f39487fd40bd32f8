"""The service keeps the contract its OpenAPI schema states: Schemathesis sends
it a few hundred generated requests, valid and invalid, with all its checks."""

import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from kedro_project import BIN

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def test_schemathesis_finds_no_contract_violation_and_no_server_error(
    service_url, tmp_path
):
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{service_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "150",
            "--seed",
            "20261125",  # the same cases on every run, so CI cannot flake
            "--request-timeout",
            "10",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # for Hypothesis' example database
        env={"PATH": str(BIN), "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "WARNINGS" not in output, output[-5000:]  # e.g. data mostly rejected
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases, output[-3000:]
    assert int(cases[1]) >= 200 and cases[1] == cases[2]
    with urllib.request.urlopen(f"{service_url}/health", timeout=10) as health:
        assert health.status == 200
