"""The ``touchpoints`` command: one module per command group (init, serve, keys, events, quarantine, demo).

Every command takes ``--home`` and, where a script would read the output, ``--json``. Commands call the
capability packages; they hold no logic of their own beyond arguments and output.
"""
