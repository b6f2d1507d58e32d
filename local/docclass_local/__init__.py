"""docclass_local: the local stack and the `docclass` CLI (never deployed).

Powertools reads its service name when docclass is first imported; set the defaults the template
gives the functions before anything here imports docclass.
"""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "docclass")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Docclass")
