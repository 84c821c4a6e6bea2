"""The Chinese working-day calendar (statutory holidays, adjusted working weekends, operator
overrides) and the response-SLA service-window arithmetic built on it (R-ONB-04, R-OPS-01,
R-OPS-03; SECURITY.md 17). See `core.workcalendar.service` and docs/working-days.md."""
