"""Re-expression of videos: engines (warp, neural) and the streaming edit pipeline."""
