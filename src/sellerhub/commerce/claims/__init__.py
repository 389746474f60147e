"""FBA reimbursement claims (issue 14): normalised report rows (``rows``, ``normalise``), Amazon's
claim windows (``windows``) and the detection rules (``rules``), all pure Python; storage, jobs
and the workflow build on them."""
