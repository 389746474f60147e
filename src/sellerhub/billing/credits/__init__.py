"""Credits: each organization's wallet on an immutable double-entry ledger (TigerBeetle's model:
accounts with posted and pending totals, transfers, two-phase holds), consumed by apps and
services per service, funded by grants (and, through billing, by purchases)."""
