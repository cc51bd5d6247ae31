"""OpenAI-compatible chat completion: Kestra's ``io.kestra.plugin.openai.ChatCompletion``."""

from plugins.openai.chat import PLUGINS

__all__ = ["PLUGINS"]
