"""One load client for both servers: N concurrent real-time streams, one latency definition.

Each stream sends the same 16 kHz int16 PCM in 100 ms frames on a fixed schedule
(frame i leaves at t0 + i * 0.1 s, t0 = the first frame). Both servers time their segments from
the first sample they received, so a segment ending at stream time `end` covers audio the client
had finished sending at t0 + end. For every final (non-empty, counted once):

    final latency = arrival on the client's clock - (t0 + end)

It includes the server's endpointing wait and queueing. Partial cadence is the time between two
consecutive partials of the same utterance (same segment start). Only the protocol adapters
differ:

- ours (Deepgram protocol, `/v1/listen`): `Results` with `is_final`, `start`, `duration`;
  `CloseStream` at the end flushes the open utterance.
- WhisperLive: after its JSON options and `SERVER_READY`, every message carries the last ten
  segments; a segment with `completed: true` is a final (deduplicated by start/end/text), the
  trailing incomplete one a partial. `END_OF_AUDIO` ends the stream (WhisperLive does not
  complete the pending segment then; trailing silence gives it the chance to).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FRAME_SAMPLES = 1600  # 100 ms at 16 kHz
# How long a stream may take to end after its last frame before it is abandoned.
CLOSE_TIMEOUT_S = 30.0


@dataclass
class StreamResult:
    # (stream end time of the final, latency s, text)
    finals: list[tuple[float, float, str]] = field(default_factory=list)
    partial_gaps: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        return " ".join(t for _, _, t in sorted(self.finals))


class _Timing:
    """Turns arrivals into latencies and gaps, whatever the protocol."""

    def __init__(self, result: StreamResult):
        self.result = result
        self.t0: float | None = None
        self.last_partial: tuple[float, float] | None = None  # (segment start, arrival)

    def final(self, end: float, text: str) -> None:
        now = time.monotonic()
        self.last_partial = None
        if text.strip() and self.t0 is not None:
            self.result.finals.append((end, now - (self.t0 + end), text.strip()))

    def partial(self, start: float) -> None:
        now = time.monotonic()
        if self.last_partial is not None and self.last_partial[0] == start:
            self.result.partial_gaps.append(now - self.last_partial[1])
        self.last_partial = (start, now)


async def _send_schedule(ws, pcm: np.ndarray, timing: _Timing) -> None:
    frames = len(pcm) // FRAME_SAMPLES
    timing.t0 = time.monotonic()
    for i in range(frames):
        delay = timing.t0 + i * 0.1 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await ws.send(pcm[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES].tobytes())


async def ours_stream(url: str, api_key: str, pcm: np.ndarray) -> StreamResult:
    result = StreamResult()
    timing = _Timing(result)
    headers = {"Authorization": f"Token {api_key}"}
    try:
        async with connect(url, additional_headers=headers, max_size=None, open_timeout=30) as ws:
            async def receive() -> None:
                async for raw in ws:
                    if not isinstance(raw, str):
                        continue
                    m = json.loads(raw)
                    if m.get("type") == "Results":
                        start = float(m.get("start", 0.0))
                        if m.get("is_final"):
                            text = m["channel"]["alternatives"][0].get("transcript", "")
                            timing.final(start + float(m.get("duration", 0.0)), text)
                        else:
                            timing.partial(start)
                    elif m.get("type") == "Error":
                        result.errors.append(str(m.get("code", m)))

            receiver = asyncio.create_task(receive())
            await _send_schedule(ws, pcm, timing)
            await ws.send(json.dumps({"type": "CloseStream"}))
            await asyncio.wait_for(receiver, CLOSE_TIMEOUT_S)
    except (OSError, ConnectionClosed, asyncio.TimeoutError) as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    except Exception as e:  # a refused upgrade (503 overloaded) and the like
        result.errors.append(f"{type(e).__name__}: {e}")
    return result


async def whisper_live_stream(url: str, pcm: np.ndarray, model: str) -> StreamResult:
    result = StreamResult()
    timing = _Timing(result)
    seen: set[tuple[str, str, str]] = set()
    options = {
        "uid": str(uuid.uuid4()),
        "language": "en",
        "task": "transcribe",
        "model": model,
        "use_vad": True,
        "audio_format": "int16",  # the same bytes on the wire as to our server
    }
    try:
        async with connect(url, max_size=None, open_timeout=30) as ws:
            await ws.send(json.dumps(options))
            # The model is loaded (first client) before SERVER_READY: the clock starts after it.
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if m.get("message") == "SERVER_READY":
                    break
                if m.get("status") in ("WAIT", "ERROR"):
                    result.errors.append(f"{m.get('status')}: {m.get('message')}")
                    return result

            async def receive() -> None:
                async for raw in ws:
                    if not isinstance(raw, str):
                        continue
                    m = json.loads(raw)
                    segments = m.get("segments")
                    if segments is None:
                        if m.get("status") == "ERROR":
                            result.errors.append(str(m.get("message")))
                        continue
                    for seg in segments:
                        if seg.get("completed"):
                            key = (seg["start"], seg["end"], seg["text"])
                            if key not in seen:
                                seen.add(key)
                                timing.final(float(seg["end"]), seg["text"])
                    last = segments[-1] if segments else None
                    if last is not None and not last.get("completed"):
                        timing.partial(float(last["start"]))

            receiver = asyncio.create_task(receive())
            await _send_schedule(ws, pcm, timing)
            await ws.send(b"END_OF_AUDIO")
            await asyncio.wait_for(receiver, CLOSE_TIMEOUT_S)
    except (OSError, ConnectionClosed, asyncio.TimeoutError) as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    except Exception as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    return result
