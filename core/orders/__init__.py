"""Orders: placed → accepted → in progress → delivered → completed, or cancelled (R-G-03, R-ASM-03)."""
