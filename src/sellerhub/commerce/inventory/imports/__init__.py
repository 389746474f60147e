"""Bulk inventory imports (issue 13, deliverable 5): an upload is streamed into a staging table
with ``COPY``, validated and applied set-based. See docs/inventory.md."""
