"""Fixtures for the assessment tests (issue 6): platform staff and a clean lab."""

from __future__ import annotations

from datetime import date

import pytest
from assessment_support import clean_lab

from core.identity.models import Role

# Cycle 1 of a lab opened on 1 January 2024: 2024-01-01 … 2024-12-31, assessed from 2024-07-01.
OPENED = date(2024, 1, 1)


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR, name="运维专员林晓")


@pytest.fixture
def regulator(make_user):
    return make_user(Role.REGULATOR, name="市场监管局质量发展科")


@pytest.fixture
def lab(app, make_user):
    return clean_lab(make_user, OPENED)
