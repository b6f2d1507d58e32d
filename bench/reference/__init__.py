"""A re-implementation of the original approach's pipeline, for benchmarks only (never deployed).

The method of the AWS sample ("Cost-effective document classification using the Amazon Titan
Multimodal Embeddings model"), written from its description, not from its code:

- open the image at full resolution; when it has more pixels than 2048x2048, resize it to exactly
  2048x2048 (the aspect ratio is not kept); re-encode it as PNG; base64 it into the Titan request;
- keep the vectors in one flat `faiss.IndexFlatL2` (raw vectors, no normalisation);
- persist that index as one object (`reference/index.faiss`, plus `reference/labels.json`) and
  read, modify and write the whole of it back for every gallery image.

`method` holds the image and index method, `handlers` wraps it in Lambda handlers with docclass's
signature (SQS event -> batchItemFailures) so the local stack can run it in place of docclass's,
`fake_bedrock` is the zero-latency stand-in for Titan that both pipelines call, and `harness` the
helpers the benchmark scripts share.
"""
