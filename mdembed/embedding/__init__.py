"""Placing VNFs and routing VLs: pure functions, composed by the central client."""
