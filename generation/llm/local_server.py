"""Lifecycle of llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) for ``--llm local``.

The server runs on 127.0.0.1 on a free port with the offline GGUF; :class:`LocalLlamaServer` starts it, waits
until ``GET /v1/models`` answers, and stops it (terminate, then kill) when the context exits, also on errors.
On Linux the server also gets SIGKILL when its parent dies (``die_with_parent``), so a killed
``verifier generate`` does not leave a server holding the CPU (SIGTERM was not enough: uvicorn's graceful
shutdown waits for the request in flight, which can run for minutes on a CPU).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Draft = Literal["prompt-lookup", "none"]
"""Speculative decoding in the local server. ``prompt-lookup``: llama.cpp's prompt-lookup decoding proposes the
tokens that followed the last generated n-gram in the prompt, and one batched forward checks them (an extraction
copies its entity spans from the text). Measured on 2 cores (docs/results.md section 3, 1.5B model, 30 DuIE dev
sentences, ``--constrain schema``): no faster (5.51 against 5.34 s a sentence: the batched check costs about what
it saves), and not the same answers (85 against 109 candidates: the batched forward's numerics change greedy
choices), so ``none`` (one token per forward) is the default and this an option for hardware where a batched
forward is cheap."""

Sampling = Literal["greedy-first", "chain"]
"""How the local server decodes greedy requests under a grammar (``--constrain schema``, JSON mode).
``greedy-first`` (``python -m generation.llm.llama_server``): the grammar checks the greedy token first and the
whole vocabulary only when it rejects it, with token-for-token the same answers
(``generation.llm.grammar_sampling``); ``chain``: llama-cpp-python's own sampler chain, which runs the grammar over
all 151,936 Qwen tokens at every step (``python -m llama_cpp.server``)."""


def die_with_parent() -> None:
    """``preexec_fn``: ask the kernel to SIGKILL this child when its parent exits (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLlamaServer:
    def __init__(
        self,
        model_path: str | os.PathLike[str],
        n_ctx: int = 4096,
        n_threads: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout_s: float = 300.0,
        logits_all: bool = False,
        draft: Draft = "none",
        draft_tokens: int = 10,
        sampling: Sampling = "greedy-first",
    ) -> None:
        """``logits_all``: keep every position's logits, which llama.cpp needs to return log-probabilities
        (the LLM-judge baseline); off for generation, where it only costs time. ``draft``: speculative decoding
        (:data:`Draft`), ``draft_tokens`` tokens proposed per step; ``sampling``: :data:`Sampling`."""
        self.sampling = sampling
        self.logits_all = logits_all
        self.draft = draft
        self.draft_tokens = draft_tokens
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 2
        self.port = free_port()
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line (``python -m llama_cpp.server ...`` or its greedy-first wrapper)."""
        return [
            sys.executable,
            "-m",
            "generation.llm.llama_server" if self.sampling == "greedy-first" else "llama_cpp.server",
            "--model",
            self.model_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            *(["--logits_all", "True"] if self.logits_all else []),
            *(
                ["--draft_model", "prompt-lookup-decoding", "--draft_model_num_pred_tokens", str(self.draft_tokens)]
                if self.draft == "prompt-lookup"
                else []
            ),
        ]

    def start(self) -> LocalLlamaServer:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as e:
            raise RuntimeError(
                "--llm local needs the `local-llm` extra: pip install 'llm-triple-verifier[local-llm]'"
            ) from e
        cmd = self.command()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with code {self._proc.returncode} (log: {self.log_path})")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as resp:
                    if resp.status == 200:
                        log.info("llama.cpp server ready on %s", self.url)
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"llama.cpp server not ready after {self.startup_timeout_s:.0f}s")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LocalLlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
