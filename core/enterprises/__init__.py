"""Enterprises (服务对象): the service objects' database and their users (R-G-01)."""
