"""Rerankers for LangChain, LlamaIndex and Haystack on :class:`tamis.CrossEncoder`.

Each framework is an optional extra, so this package imports none of them: import the
submodule you need (``tamis.integrations.langchain``, ``.llama_index``, ``.haystack``).
"""
