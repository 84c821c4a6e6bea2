"""Service items (服务项目) and the public directory of institutions (R-OPS-01, Annex 2 item 5)."""
