"""Customer profiles: upserting them, reading one, and erasing one."""
