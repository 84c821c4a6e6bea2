"""Consultations (咨询): an enterprise asks an institution, its agents answer in a thread, and the
first response is measured against the response SLA (R-OPS-03)."""
