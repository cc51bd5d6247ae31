"""One date format on every admin page (issue 20): ISO 8601 and the time zone's name.

Django's English locale would print "Dec. 7, 2026, 1:06 a.m." in model admin lists; Trellis's
own pages use ``executions.templatetags.trellis_admin.when``, which prints the same as this
and is then shown in the browser's time zone.
"""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i:s"
