"""The prediction service running as users start it, for the tests that talk
to it over HTTP."""

import sys

import pytest
from kedro_project import free_port, running_server


@pytest.fixture(scope="package")
def service_url(trained_project, tmp_path_factory):
    """``python -m mnist_kedro.serving`` on a free loopback port, serving the
    model of ``trained_project``, until the tests of this folder end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mnist_kedro.serving", "--port", str(port)]
    log_path = tmp_path_factory.mktemp("serving") / "server.log"
    with running_server(command, trained_project, f"{url}/health", log_path):
        yield url
