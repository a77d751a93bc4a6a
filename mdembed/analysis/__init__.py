"""Reading, comparing and aggregating results."""
