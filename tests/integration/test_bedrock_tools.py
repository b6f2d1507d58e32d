"""`docclass eval` and `docclass serve` on a Bedrock model, with the endpoint boto3 resolves pointed at a stub.

AWS_ENDPOINT_URL_BEDROCK_RUNTIME is boto3's own per-service endpoint setting
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html): the tools keep that
resolution, so a user may point them at a proxy, and these tests at tests/bedrock_stub.py.
"""

from __future__ import annotations

import json
import os

import pytest

from docclass_local.cli import main
from docclass_local.samples import documents
from docclass_local.stack import LocalStack
from tests.bedrock_stub import BedrockStub

CLASSES = ("letter", "receipt", "invoice")


@pytest.fixture
def stub(monkeypatch):
    server = BedrockStub().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    yield server
    server.stop()


@pytest.fixture
def folders(tmp_path):
    for role, seed in (("gallery", 0), ("query", 7)):
        for label, name, data in documents(2, seed=seed, classes=CLASSES):
            path = tmp_path / role / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return tmp_path / "gallery", tmp_path / "query"


@pytest.mark.parametrize(
    ("model_id", "dimension", "family"),
    [
        ("cohere.embed-v4:0", 512, "Cohere Embed v4"),
        ("us.amazon.nova-2-multimodal-embeddings-v1:0", 384, "Nova Multimodal Embeddings"),
    ],
)
def test_eval_compares_a_bedrock_model_on_the_users_folders(
    stub, folders, capsys, model_id, dimension, family
):
    gallery, query = folders
    # when
    code = main(
        [
            "eval",
            str(gallery),
            str(query),
            "--embedder",
            "bedrock",
            "--model-id",
            model_id,
            "--dimension",
            str(dimension),
            "--json",
        ]
    )
    # then: every document went to the endpoint boto3 resolved, in the model's own body
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["model_note"] == f"{family} on Bedrock"
    assert out["dimension"] == dimension and out["documents"] == 12
    assert {r.model_id for r in stub.requests} == {model_id}
    assert len(stub.requests) == out["distinct_images"]
    assert 0.0 <= out["accuracy"] <= 1.0


def test_eval_refuses_a_dimension_the_model_does_not_return_before_any_call(stub, folders, capsys):
    gallery, query = folders

    code = main(
        [
            "eval",
            str(gallery),
            str(query),
            "--embedder",
            "bedrock",
            "--model-id",
            "cohere.embed-v4:0",
            "--dimension",
            "384",
        ]
    )

    assert code == 2
    assert "must be one of (256, 512, 1024, 1536) for Cohere Embed v4" in capsys.readouterr().err
    assert stub.requests == []


def test_a_model_id_without_the_bedrock_embedder_is_a_usage_error(capsys, folders):
    gallery, query = folders

    assert main(["eval", str(gallery), str(query), "--model-id", "cohere.embed-v4:0"]) == 2
    assert "add --embedder bedrock" in capsys.readouterr().err
    assert main(["serve", "--model-id", "cohere.embed-v4:0", "--port", "0"]) == 2
    assert "add --embedder bedrock" in capsys.readouterr().err
    assert (
        main(["serve", "--embedder", "bedrock", "--model-id", "cohere.embed-v4:0", "--dimension", "3072"])
        == 2
    )
    assert "for Cohere Embed v4" in capsys.readouterr().err


def test_serve_on_a_bedrock_model_classifies_through_the_users_endpoint(stub):
    # given: the local stack on Cohere Embed v4 behind a global profile, Bedrock answered by the stub
    stack = LocalStack(
        port=None,
        bucket="bedrock-tools",
        embedder="bedrock",
        parameters={"EmbeddingModelId": "global.cohere.embed-v4:0", "EmbeddingDimension": "256"},
    )
    assert stack.bedrock_region == "eu-west-1" and stack.bedrock_endpoint == stub.url
    with stack:
        s3 = stack.client("s3")
        for label, name, data in documents(1, classes=("letter", "receipt")):
            s3.put_object(Bucket=stack.bucket, Key=f"gallery/{label}/{name}", Body=data)
        stack.wait_until_idle()
        # a letter scanned at 300 dpi (8.4 Mpx, over Cohere's 2,458,624 px): drawn at Cohere's size before it is sent
        ((_, _, data),) = documents(1, seed=3, classes=("letter",), dpi=300)
        s3.put_object(Bucket=stack.bucket, Key="inbox/scan.jpg", Body=data)
        stack.wait_until_idle()
        routed = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=stack.bucket, Prefix="classified/").get("Contents", [])
        ]
        head = s3.head_object(Bucket=stack.bucket, Key=routed[0])
    # then: the document was routed, each page was sent at Cohere's size, and the index is the
    # model's vector space without the profile prefix
    assert routed == ["classified/letter/scan.jpg"]
    assert {r.model_id for r in stub.requests} == {"global.cohere.embed-v4:0"}
    assert all(w * h <= 2_458_624 for w, h in (r.image_size for r in stub.requests))
    width, height = stub.requests[-1].image_size
    assert width * height > 0.99 * 2_458_624  # the scan, shrunk to Cohere's area and no further
    assert head["Metadata"]["docclass-model"] == "cohere.embed-v4:0/classification"
    assert len(stub.requests) == 3  # two gallery examples and the document


def test_without_an_endpoint_of_their_own_serve_reaches_bedrock_where_boto3_resolves_it(monkeypatch):
    # given: no AWS_ENDPOINT_URL_BEDROCK_RUNTIME, and the user's region
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    stack = LocalStack(port=None, bucket="bedrock-endpoint", embedder="bedrock")
    with stack:
        # when the functions' embedder is made (AWS_ENDPOINT_URL now points at the local S3/SQS)
        from docclass.config import Settings

        embedder = stack._bedrock_in_the_users_region(Settings.from_env())
        # then its client goes to Bedrock in the user's region, not to the local endpoint
        assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint_url
        assert embedder.client.meta.endpoint_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
