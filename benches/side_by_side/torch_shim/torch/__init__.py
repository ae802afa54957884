"""Stand-in for torch, put on WhisperLive's path only when the real torch is not installed.

WhisperLive 0.10.0 imports torch at module level, and on the faster-whisper CPU path it calls
exactly one function: `torch.cuda.is_available()` (to choose cuda/float16 or cpu/int8). This
machine has no GPU, so the real answer is False. Anything else touching torch fails loudly with
AttributeError, so the stand-in cannot change what is measured without being noticed.
"""


class cuda:  # noqa: N801 (the real attribute's name)
    @staticmethod
    def is_available() -> bool:
        return False
