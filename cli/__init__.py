"""voicectl: a thin typer CLI over the registry and the control plane."""
