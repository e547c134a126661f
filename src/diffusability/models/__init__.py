"""Model presets: autoencoders (`autoencoders`)."""
