"""Client cases (客户名录): the successful filings and services an institution without a statutory
qualification shows instead of a certificate (R-ELIG-07, M Art. 8).

Shared by the categories that need it (intellectual property, quality-management consulting):
each of their plugins asks `recent_cases` / `case_list_check` for its own category, so neither
plugin imports the other and the table has one owner, core.
"""
