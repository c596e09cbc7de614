"""History: export and import archives, replay, the divergence model, the follower."""
