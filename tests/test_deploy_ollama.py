"""Pushing to Ollama: the client against a stand-in server that checks what the real API
checks, the deploy decision and the best_checkpoint_sensor."""

from __future__ import annotations

import json
import socket

import dagster as dg
import pytest
from fake_ollama import FakeOllama

from resources import DeployPolicyResource, WorkspaceResource
from sensors.best_checkpoint_sensor import best_checkpoint_sensor
from tests.conftest import best_checkpoint_document
from training_assets.deploy.ollama_client import (
    OllamaClient,
    OllamaError,
    OllamaUnreachable,
    file_digest,
    normalize_host,
)


def test_host_forms_are_read_as_ollama_reads_them():
    assert normalize_host("127.0.0.1") == "http://127.0.0.1:11434"
    assert normalize_host("0.0.0.0:8080") == "http://127.0.0.1:8080"
    assert normalize_host("https://ollama.example.com") == "https://ollama.example.com:11434"


def test_push_and_create_a_model(tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 100)
    with FakeOllama() as server:
        client = OllamaClient(server.host)
        digest = client.push_blob(weights)
        assert digest == file_digest(weights) and digest in server.blobs
        assert client.push_blob(weights) == digest  # already there: HEAD answers, no upload
        assert [r for r in server.requests if r[0] == "POST"] == [("POST", f"/api/blobs/{digest}")]
        statuses = client.create(
            "demo-model", {"model.gguf": digest}, "{{ .Prompt }}", "Be brief.", {"num_ctx": 2048}
        )
        assert statuses[-1] == {"status": "success"}
        assert server.models["demo-model"]["system"] == "Be brief."


def test_the_server_refuses_a_wrong_digest_and_a_missing_blob(tmp_path):
    with FakeOllama() as server:
        client = OllamaClient(server.host)
        wrong = "sha256:" + "0" * 64
        response = client._request("POST", f"/api/blobs/{wrong}", data=b"not that")
        assert response.status_code == 400 and "digest mismatch" in response.json()["error"]
        with pytest.raises(OllamaError, match="not found"):
            client.create("m", {"model.gguf": wrong}, "{{ .Prompt }}", None, {})
        with pytest.raises(OllamaError, match="invalid model name"):
            client.create("", {"model.gguf": wrong}, "{{ .Prompt }}", None, {})


def test_no_server_is_a_clear_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        OllamaUnreachable, match=f"no Ollama server answers at http://127.0.0.1:{port}"
    ):
        OllamaClient(f"127.0.0.1:{port}", timeout=5).version()


def test_best_checkpoint_sensor_requests_one_deploy_per_checkpoint(workspace):
    workspace.mkdir(parents=True)
    instance = dg.DagsterInstance.get()
    resources = {
        "workspace": WorkspaceResource(root=str(workspace)),
        "deploy_policy": DeployPolicyResource.from_settings(),
    }

    def tick(cursor=None):
        with dg.build_sensor_context(
            instance=instance, resources=resources, cursor=cursor
        ) as context:
            return best_checkpoint_sensor(context)

    assert not tick().run_requests  # nothing evaluated yet
    (workspace / "best_checkpoint.json").write_text(
        json.dumps(best_checkpoint_document(-0.01, 0.05))
    )
    instance.report_runless_asset_event(dg.AssetMaterialization("best_checkpoint"))
    worse = tick()
    assert not worse.run_requests and "lower bound not above 0" in worse.skip_reason.skip_message

    (workspace / "best_checkpoint.json").write_text(
        json.dumps(best_checkpoint_document(0.02, 0.06))
    )
    instance.report_runless_asset_event(dg.AssetMaterialization("best_checkpoint"))
    better = tick(worse.cursor)
    assert [r.run_key for r in better.run_requests] == ["deploy:run-1:step-000020"]
    assert not tick(better.cursor).run_requests  # the same evaluation is not acted on twice
