"""The CSM fallback: Transcribe -> Claude on Bedrock -> Sesame CSM-1B on a SageMaker endpoint, streamed.

CSM-1B is text-to-speech only (memo), so it reuses the M1 pipeline's STT and LLM stages and replaces Polly with
SageMaker `invoke_endpoint_with_response_stream` (boto3). The endpoint streams 24 kHz s16le PCM in PayloadPart events
whose boundaries need not fall on sample boundaries; `SampleAligner` re-frames them into whole samples before they
are forwarded, one AudioChunk per part (no re-buffering beyond the odd byte).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator

from voice_runtime.adapters.base import BackendError
from voice_runtime.adapters.m1_pipeline import PipelineAdapter, PipelineSession
from voice_runtime.adapters.pcm import SampleAligner


def csm_request(sentence: str, speaker: int = 0) -> bytes:
    """The model server's request body: the sentence and the audio format wanted back."""
    return json.dumps({"text": sentence, "speaker": speaker, "sample_rate": 24_000, "format": "pcm_s16le"}).encode()


class CsmSession(PipelineSession):
    service = "CSM SageMaker"

    def speak(self, sentence: str, stop: threading.Event) -> AsyncIterator[bytes]:
        """CSM's PCM for one sentence, whole samples only, as the PayloadParts arrive."""
        endpoint = self.ctx.config.sagemaker_endpoint
        if not endpoint:
            raise BackendError(f"variant {self.ctx.variant} names no sagemaker_endpoint", retryable=False,
                               code="invalid_request")
        runtime = self.adapter.backends.client("sagemaker-runtime", "sagemaker")

        def parts() -> Iterator[bytes]:
            response = runtime.invoke_endpoint_with_response_stream(
                EndpointName=endpoint, Body=csm_request(sentence), ContentType="application/json",
                Accept="audio/pcm")
            aligner = SampleAligner()
            for event in response["Body"]:
                if "PayloadPart" in event:
                    yield aligner.feed(event["PayloadPart"].get("Bytes", b""))
                elif "ModelStreamError" in event or "InternalStreamFailure" in event:
                    raise BackendError(f"CSM stream failed: {event}", code="stream_error")

        return self.adapter.backends.iterate(parts, stop)


class CsmSageMakerAdapter(PipelineAdapter):
    """BackendAdapter for backend `csm_sagemaker` (the sesame-csm1b variant)."""

    name = "csm_sagemaker"
    session_class = CsmSession
