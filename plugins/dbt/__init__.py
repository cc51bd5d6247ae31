"""dbt: Kestra's ``io.kestra.plugin.dbt.cli.DbtCLI``, run like a Python Commands task."""

from plugins.dbt.cli import PLUGINS

__all__ = ["PLUGINS"]
