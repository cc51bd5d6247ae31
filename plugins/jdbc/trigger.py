"""``Trigger``: run a query every ``interval`` and start an execution when it returns rows
(Kestra's ``io.kestra.plugin.jdbc.<database>.Trigger``).

Each poll runs ``sql`` (then ``afterSQL``, in the same transaction: the place to mark rows
as processed so the next poll does not see them again). When rows come back, one execution
starts with ``trigger.row`` (FETCH_ONE), ``trigger.rows`` (FETCH) or ``trigger.uri`` (STORE:
an Ion file copied into the new execution's storage), and ``trigger.size``. With NONE the
rows are only counted (``trigger.size``). The event key is the poll's id, so a poll
delivered twice starts one execution.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, PollContext, PollEvent, PollingTrigger, Prop, StoreFile
from plugins.jdbc.common import (
    ACCEPTED_PROPS,
    CONNECTION_PROPS,
    FETCH_PROPS,
    QUERY_PROPS,
    mode_and_options,
    parameters_of,
    target_of,
    validate_connection,
    validate_fetch,
)
from plugins.jdbc.query import kestra_names
from plugins.jdbc.runner import Store, run_script, split_statements


class Trigger(PollingTrigger):
    """Poll a database with a query; start the flow when it returns rows."""

    type = "trellis.jdbc.Trigger"
    aliases = kestra_names("Trigger")
    default_interval = "PT60S"
    properties: ClassVar = (
        *CONNECTION_PROPS,
        *QUERY_PROPS,
        *FETCH_PROPS,
        *(p for p in ACCEPTED_PROPS if p.name != "autoCommit"),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    confidential: ClassVar = ("password", "sslKey", "sslKeyPassword")
    examples = (
        """id: new-orders
namespace: trellis.examples
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ trigger.rows }}"
    tasks:
      - id: show
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
triggers:
  - id: watch
    type: io.kestra.plugin.jdbc.postgresql.Trigger
    interval: PT5M
    url: jdbc:postgresql://127.0.0.1:5432/shop
    username: postgres
    sql: SELECT id, total FROM orders WHERE status = 'NEW'
    afterSQL: UPDATE orders SET status = 'SEEN' WHERE status = 'NEW'
    fetchType: FETCH
""",
    )

    outputs: ClassVar = (
        Output("row", "The first row (fetchType FETCH_ONE).", "map"),
        Output("rows", "Every row (fetchType FETCH).", "list"),
        Output("uri", "The rows as an Ion file (fetchType STORE).", "uri"),
        Output("size", "Rows fetched, or rows affected when nothing is fetched.", "integer"),
    )

    @classmethod
    def validate(cls, props: dict[str, Any]) -> list[tuple[str, str]]:
        return validate_connection(props) + validate_fetch(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        folder = Path(tempfile.mkdtemp(prefix="trellis-jdbc-"))
        try:
            target = target_of(props, folder, ctx.logger)
            mode, size, tz = mode_and_options(props)
            statements = split_statements(
                str(props.get("sql") or ""),
                backslash_escapes=target.database in ("mysql", "mariadb"),
            )
            outputs = run_script(
                target,
                statements,
                parameters_of(props),
                mode,
                store=Store(folder, "trigger"),
                after_sql=props.get("afterSQL") or None,
                fetch_size=size,
                tz=tz,
                count_rows=True,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        result = outputs[-1] if outputs else {}
        if not result.get("size"):
            shutil.rmtree(folder, ignore_errors=True)
            ctx.logger.debug("the query returned no rows")
            return []
        path = result.pop("uri", None)

        def attach(store: StoreFile) -> dict[str, Any]:
            return {"uri": store(path, path.name)} if isinstance(path, Path) else {}

        def cleanup() -> None:
            shutil.rmtree(folder, ignore_errors=True)

        return [
            PollEvent(
                key=f"poll:{ctx.poll_id}",
                variables=result,
                attach=attach,
                done=cleanup,
                decline=cleanup,
            )
        ]


PLUGINS = [Trigger]
