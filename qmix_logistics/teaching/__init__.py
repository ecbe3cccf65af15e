"""Teachers a learned dispatcher imitates (the batching rule, rolling-horizon planners) and their demonstrations."""
