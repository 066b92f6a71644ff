"""Session fixture: a fresh emulator for the whole test session.

With ``AWS_ENDPOINT_URL`` set, the tests use that endpoint as it is (e.g. the
docker-compose service). Otherwise ``localstack.sh start`` runs LocalStack on a free port
and ``localstack.sh stop`` ends it after the session.
"""

import os
import socket
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

HARNESS = Path(__file__).resolve().parent
SCRIPT = HARNESS / "localstack.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint():
    given = os.environ.get("AWS_ENDPOINT_URL")
    if given:
        yield given
        return
    port = _free_port()
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=900,  # includes a cold install
    )
    if started.returncode != 0:
        pytest.fail(f"localstack.sh start {port} failed:\n{started.stderr}", pytrace=False)
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(port)], timeout=60, check=False)


@pytest.fixture(scope="session")
def client(endpoint):
    """client("dynamodb", "us-west-2") -> a boto3 client on the emulator."""
    cache = {}
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)

    def make(service: str, region: str = "us-east-1"):
        key = (service, region)
        if key not in cache:
            cache[key] = boto3.client(
                service,
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=config,
            )
        return cache[key]

    return make
