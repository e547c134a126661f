"""The networks: image autoencoders (`autoencoders`, diffusers' AutoencoderKL), video autoencoders
(`video_autoencoders`, CogVideoX / LTX), and the DiTs trained on their latents (`dit`, `video_dit`).
Their presets are plain data in `diffusability.presets`."""
