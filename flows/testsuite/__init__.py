"""Flow unit tests: a YAML test suite (Kestra's shape) run as real executions with some
tasks replaced by fixtures. ``spec`` reads the file, ``assertions`` judges values,
``rewrite`` prepares the flow under test, ``runner`` runs the cases, ``junit`` reports."""
