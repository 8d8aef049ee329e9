"""llama-cpp-python's OpenAI-compatible server with greedy-first grammar sampling installed
(``generation.llm.grammar_sampling``); the same flags as ``python -m llama_cpp.server``."""

from __future__ import annotations


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    from generation.llm.grammar_sampling import install

    install()
    serve()


if __name__ == "__main__":
    main()
