"""The multi-domain scenario (DESIGN 1-6): its run built from settings, the evaluation loop, and the run end to end."""
