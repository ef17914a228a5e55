"""Models: generator (and later the correlation metric, discriminator, classifier)."""
