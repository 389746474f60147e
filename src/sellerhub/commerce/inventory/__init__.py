"""Inventory: stock per (product, location) that never goes negative — PostgreSQL's CHECKs are
the last guard — with an append-only journal of every movement, reservations, adjustments, bulk
imports and the Amazon FBA sync."""
