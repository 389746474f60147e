"""Amazon FBA inventory: the sync-job kind ``fba_inventory`` (SP-API ``getInventorySummaries``
per marketplace into one ``fba`` location per marketplace, with a dated snapshot per run)."""
