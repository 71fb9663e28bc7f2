"""Audiences: lists of customers written for an ad platform (Meta, Google) or the business's own tools,
and what becomes of those files when a person is erased.

- ``export``: who is in an audience (every customer, or those a file names, narrowed by traits), always
  through the privacy gate of the purpose it serves (marketing by default); the file, written in the
  platform's column names with hashed identifiers (``privacy.hashing``) or plain for in-house use, and
  recorded line by line in ``exports`` and ``export_rows``; ``scrub_export_rows``, which rewrites every
  recorded file without one customer's lines.

May import ``config``, ``store``, ``identity`` and ``privacy``; the CLI calls into it.
"""
