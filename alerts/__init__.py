"""Alert delivery: render stored attributions inertly and send each once per Apprise channel.

``alerts.render`` (title/body per format), ``alerts.channels`` (Apprise YAML -> routed channels),
``alerts.dispatch`` (exactly-once delivery bookkeeping in the database). Imports ``storage`` only.
"""
