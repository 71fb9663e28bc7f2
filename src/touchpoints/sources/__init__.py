"""Sources other than the collector: the file importers for offline and bought data.

``kinds`` says what each kind of file (transactions, contacts, tickets, surveys, reviews, social, loyalty,
email, events, enrichment) must hold and which events its rows become; ``importer`` reads CSV, JSON Lines
and Parquet with the engine and stores the rows with stable ids; ``enrichment`` keeps the bought tables.
"""
