"""Onboarding (M Ch. 2-3): profile, commitment, compliance, eligibility, review, exit, removal."""
