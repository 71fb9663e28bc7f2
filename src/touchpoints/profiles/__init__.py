"""Unified profiles: what a support agent sees of one customer.

Owns reading a customer's profile at read time from the store: traits with their source and time (and the
conflicting values seen), computed traits (spend, orders, tickets, NPS, channels), the consent state, and
the cross-channel timeline; searching customers by email, phone or name; and the ``/v1/profiles`` read
API. Nothing is materialised, so a merge or an unmerge in the identity graph changes a profile at once.

May import: ``touchpoints.store`` (the query layer), ``touchpoints.identity`` (finding a customer),
``touchpoints.config`` and ``touchpoints.privacy`` (keys). Every read goes through ``read.profile``, where
the privacy gates (erasure, consent) attach.
"""
