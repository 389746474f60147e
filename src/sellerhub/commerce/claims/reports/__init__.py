"""The claims data pipeline: Amazon's FBA reports pulled by a sync job (resource
``fba_claims_reports``), stored set-based without duplicates, and the detection job that runs the
rules over them. See docs/claims.md, "Pipeline"."""
