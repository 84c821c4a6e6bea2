"""Browser journeys: the real app in a thread, driven through headless Chromium."""
