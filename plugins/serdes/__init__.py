"""Data formats (Kestra's ``serdes`` plugin): conversions between Kestra's internal row format,
text Ion, and CSV, JSON lines, Avro, Parquet and Excel, each streamed row by row.

Registered through the ``trellis.plugins`` entry point (``serdes = "plugins.serdes"``) as a
third-party family would be. The libraries (amazon-ion, fastavro, pyarrow, openpyxl) come with
the ``serdes`` extra and are imported only when a task runs; without them a flow using these
types fails validation naming the extra.
"""

from plugins.serdes.avro_tasks import PLUGINS as _AVRO
from plugins.serdes.csv_tasks import PLUGINS as _CSV
from plugins.serdes.excel_tasks import PLUGINS as _EXCEL
from plugins.serdes.json_tasks import PLUGINS as _JSON
from plugins.serdes.parquet_tasks import PLUGINS as _PARQUET

PLUGINS = [*_CSV, *_JSON, *_AVRO, *_PARQUET, *_EXCEL]
