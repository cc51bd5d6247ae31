"""The SQL family (Kestra's ``jdbc.*`` plugins), registered through the ``trellis.plugins``
entry point ``jdbc`` as a third-party package would be. Importing it imports no database
library: SQLAlchemy, the drivers and amazon-ion are loaded when a task runs or a flow is
checked (``pip install 'trellis[jdbc]'``)."""

from plugins.jdbc.copy import PLUGINS as _COPY
from plugins.jdbc.query import PLUGINS as _QUERY
from plugins.jdbc.trigger import PLUGINS as _TRIGGER

PLUGINS = [*_QUERY, *_COPY, *_TRIGGER]

#: The pip extra that installs what this family needs, and the modules it needs (for a
#: catalogue that shows each family's optional dependency).
EXTRA = "jdbc"
LIBRARIES = ("sqlalchemy", "psycopg2", "pymysql", "duckdb", "duckdb_engine", "amazon.ion")
