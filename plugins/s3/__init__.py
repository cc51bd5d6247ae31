"""Amazon S3 and S3-compatible stores (``io.kestra.plugin.aws.s3.*``) through boto3, issue 17.

boto3 is an optional dependency (``pip install 'trellis[s3]'``): it is imported where a task
connects, so a worker without it loads every other type and validation names the extra.

``endpointOverride`` (MinIO, Ceph, a test server) is checked by the outbound guard
(plugins/_shared/guard.py) before any request: its host's addresses must be ones the HTTP task
may reach. Without ``accessKeyId`` boto3 looks for credentials where it always does (the
worker's environment and instance role), as Kestra's AWS tasks do.

Registered through the ``trellis.plugins`` entry point (``s3 = "plugins.s3"``).
"""

from plugins.s3.tasks import Delete, Download, Downloads, List, Upload
from plugins.s3.trigger import Trigger

PLUGINS = [Upload, Download, Downloads, List, Delete, Trigger]
