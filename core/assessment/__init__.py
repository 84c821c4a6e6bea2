"""The yearly assessment of institutions (M Ch. 5, Annex 2; R-ASM-01…06). See docs/assessment.md."""
