"""voice_runtime package."""
