"""What every layer shares: the user-error type, atomic file writes, statistics and number formatting."""
