"""Substrate network: topology loading, domain partitions."""
