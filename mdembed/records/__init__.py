"""What a multi-domain run records as requests come and go: the substrate's occupancy, the metrics, the event trace."""
