"""Institutions (入驻机构) and their staff."""
