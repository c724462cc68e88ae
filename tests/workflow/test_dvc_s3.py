"""Sharing through a DVC remote on S3: the round trip of tests/workflow/test_dvc.py against an
S3-compatible server (moto's) started on loopback for the test.

Push to a bucket, fresh clone, pull, restore modification times: nothing to do. DVC
talks to the server through the remote's `endpointurl` with dummy credentials from
environment variables (docs/sharing.md); nothing leaves the machine.
"""

from __future__ import annotations

import pytest
from dvc_share import clone_and_pull, make_team_repo, share

pytestmark = pytest.mark.slow

BUCKET = "transfer-atlas-team"
PREFIX = "dvc-store"


@pytest.fixture
def s3_endpoint(tmp_path):
    """An S3-compatible server on 127.0.0.1 (a free port), with an empty bucket; and
    the environment that points DVC (boto) at it and at nothing else."""
    # Dev dependencies (requirements.lock): a missing one is an error, not a skip.
    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # No instance-metadata probing, no user's ~/.aws. Loopback goes direct; any other
        # HTTP(S) request would go to a dead proxy (port 9) and fail.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **{
            k: "http://127.0.0.1:9"
            for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
        },
    }
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield url, client, env
    finally:
        server.stop()


def test_push_to_s3_clone_pull_reruns_nothing(tiny_study, s3_endpoint, tmp_path):
    url, client, env = s3_endpoint
    repo = make_team_repo(tiny_study, tmp_path / "team")
    # docs/sharing.md: an S3 remote, here an S3-compatible server named by its endpoint URL.
    share(repo, f"s3://{BUCKET}/{PREFIX}", ("endpointurl", url), **env)
    stored = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount", 0)
    assert stored > 0, "dvc push wrote nothing to the bucket"
    # The committed DVC config names the server, never credentials.
    config = (repo / ".dvc" / "config").read_text()
    assert url in config and "testing" not in config, config

    # A colleague: fresh clone (its cache is empty, the bucket is the only source).
    clone_and_pull(repo, tmp_path / "colleague", **env)
